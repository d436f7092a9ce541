#!/bin/sh
# Replaces the vendored Swagger UI and ReDoc with the versions named below,
# from the npm registry. Run it from anywhere; then run `make test-browser`.
# Only the built files the pages load, and the licenses, are kept.
set -eu
SWAGGER_UI=5.35.0
REDOC=2.5.4
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "swagger-ui-dist@$SWAGGER_UI" "redoc@$REDOC" >/dev/null
mkdir s r
tar xzf "swagger-ui-dist-$SWAGGER_UI.tgz" -C s
tar xzf "redoc-$REDOC.tgz" -C r
# Drop the source map comment: the map is not vendored, and a browser with
# its developer tools open would ask for it.
for f in swagger-ui-bundle.js swagger-ui.css; do
	sed '/^\/[*/]# sourceMappingURL=/d' "s/package/$f" >"$here/swagger-ui/$f"
done
cp s/package/LICENSE s/package/NOTICE "$here/swagger-ui/"
cp s/package/swagger-ui-bundle.js.LICENSE.txt "$here/swagger-ui/"
# ReDoc's sidebar footer shows Redocly's logo from its CDN, which the page's
# Content-Security-Policy refuses (a console error): point it at an empty
# data: image instead, which fails to decode and ReDoc then hides.
sed -e '/^\/[*/]# sourceMappingURL=/d' -e 's|https://cdn.redoc.ly/redoc/logo-mini.svg|data:,|' \
	r/package/bundles/redoc.standalone.js >"$here/redoc/redoc.standalone.js"
grep -q 'cdn\.redoc\.ly' "$here/redoc/redoc.standalone.js" && { echo "redoc.standalone.js still names cdn.redoc.ly" >&2; exit 1; }
cp r/package/LICENSE r/package/bundles/redoc.standalone.js.LICENSE.txt "$here/redoc/"
echo "vendored swagger-ui-dist $SWAGGER_UI and redoc $REDOC: update the versions in $here/README.md"
