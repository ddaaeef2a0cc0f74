"""`harvest-sync console`: the integrations page, server-rendered.

Starlette and Jinja2 templates, htmx (vendored in static/) for the live parts. The web layer
reads forms and renders pages; every rule and every command lives in producers.services,
which the admin CLI calls too.

* ``app`` — the Starlette application and the server;
* ``security`` — sessions, CSRF, sign-in required, security headers (CSP);
* ``web`` — routes as pages (GET) and actions (POST: CSRF checked, admin only), rendering;
* ``views/`` — one module per page group;
* ``chart`` — the weekly actuals chart as SVG geometry.
"""
