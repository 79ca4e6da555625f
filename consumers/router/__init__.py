"""The router: decides which departments and contractors receive a work order for each filed report.

`rules` holds the ordered routing rules (first match wins), `workorders` turns a routing decision into work
orders under each assignee's data policy, and `explain` shows offline why a report would go where it goes.
"""
