"""`provision` sets an existing contractor user to exactly the plan: no tag survives (an `impersonator` tag let a user
publish as another contractor), nor a permission in another vhost or a topic permission on another exchange; the
password stays. Checked through the management API, for both backends.
"""

from __future__ import annotations

import uuid
from typing import Any

import aio_pika
import httpx
import pytest

from consumers.contractors.provisioning import access_for, provision
from infra.broker_admin import Permissions, TopicPermissions, connect_admin, credentials_of
from tests.contractors_support import MANAGEMENT_URL, scratch_vhost, with_credentials, with_vhost
from tests.trust_support import A

pytestmark = pytest.mark.integration


async def _get(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(path)
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize("backend", ["http", "rabbitmqctl"])
async def test_provision_resets_tags_and_permissions_to_the_plan(amqp_url: str, backend: str) -> None:
    async with scratch_vhost(amqp_url, "prov") as vhost, scratch_vhost(amqp_url, "prov-other") as other:
        url = with_vhost(amqp_url, vhost)
        admin = await connect_admin(backend, amqp_url=url, management_url=MANAGEMENT_URL)
        http = await connect_admin("http", amqp_url=url, management_url=MANAGEMENT_URL)
        access = access_for(A, f"t{uuid.uuid4().hex[:6]}-")
        user = access.user
        client = httpx.AsyncClient(base_url=MANAGEMENT_URL, auth=credentials_of(amqp_url), timeout=10)
        try:
            (first,) = await provision(http, vhost, [access])
            assert first.password is not None
            # Someone widened the user by hand: tags, rights everywhere, another vhost, another exchange.
            response = await client.put(
                f"/api/users/{user}", json={"password": first.password, "tags": "impersonator,management"}
            )
            response.raise_for_status()
            await http.set_permissions(vhost, user, Permissions(".*", ".*", ".*"))
            await http.set_permissions(other, user, Permissions(".*", ".*", ".*"))
            await http.set_topic_permissions(vhost, user, TopicPermissions("amq.topic", ".*", ".*"))
            await http.set_topic_permissions(other, user, TopicPermissions("amq.topic", ".*", ".*"))

            (again,) = await provision(admin, vhost, [access])

            assert not again.created
            assert again.password is None
            found = await _get(client, f"/api/users/{user}")
            assert found["tags"] in ([], "")
            permissions = await _get(client, f"/api/users/{user}/permissions")
            assert [(p["vhost"], p["configure"], p["write"], p["read"]) for p in permissions] == [
                (vhost, access.permissions.configure, access.permissions.write, access.permissions.read)
            ]
            topics = await _get(client, f"/api/users/{user}/topic-permissions")
            assert [(t["vhost"], t["exchange"], t["write"], t["read"]) for t in topics] == [
                (vhost, access.topic.exchange, access.topic.write, access.topic.read)
            ]
            # The password it had still works.
            connection = await aio_pika.connect(with_credentials(url, user, first.password))
            await connection.close()
        finally:
            await http.delete_user(user)
            await client.aclose()
            await admin.aclose()
            await http.aclose()
