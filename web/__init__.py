"""The sales team's workspace in the browser: the board, the deal card, my tasks, the inbox.

Pages are rendered on the server (jinja2) from the store and Temporal visibility; every
change a page makes goes through the JSON API (api/) with the session cookie and its CSRF
token, so the browser obeys exactly the rules, validation and audit of the API. The
JavaScript and CSS it loads are vendored (web/static/vendor) and served by the API itself.
"""
