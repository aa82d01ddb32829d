"""The web portal: pages for people, built on the public VO endpoints only.

Every action a page takes is a standard request a script could make (TAP sync and async, UWS job
lists, VOSI documents), and each page shows that request "as curl" and "as pyvo". The pages are
server-rendered HTML with small scripts; the ADQL editor (CodeMirror 6, from the npm registry
through ``portal/package-lock.json``) is bundled by ``npm run build`` into ``portal/static/build``,
which ``make serve`` runs and git ignores.

``pages.py``   the HTML of every page (pure string building over ``dali`` values)
``routes.py``  the Starlette routes and the static files
``static/``    stylesheet, page scripts, XSLT stylesheets for the XML documents

Uses ``dali`` only; only ``skygate`` imports it.
"""
