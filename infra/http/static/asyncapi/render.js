// Renders the hub's AsyncAPI document (served beside this page) with the vendored standalone component.
"use strict";
(function () {
  const root = document.getElementById("asyncapi");
  fetch(root.dataset.schema, { headers: { Accept: "application/json" } })
    .then((response) => {
      if (!response.ok) throw new Error(`${root.dataset.schema}: HTTP ${response.status}`);
      return response.text();
    })
    .then((schema) => {
      window.AsyncApiStandalone.render(
        { schema, config: { show: { sidebar: true }, sidebar: { showOperations: "byDefault" } } },
        root,
      );
      document.body.dataset.state = "ready";
    })
    .catch((error) => {
      root.textContent = `The AsyncAPI document could not be shown: ${error.message}`;
      document.body.dataset.state = "failed";
    });
})();
