// Starts ReDoc on /openapi.json; a file, not an inline script, for the
// page's Content-Security-Policy (script-src 'self').
"use strict";
window.addEventListener("load", function () {
	Redoc.init("/openapi.json", {
		expandResponses: "200,202",
		jsonSamplesExpandLevel: 3,
		hideDownloadButton: false,
		// Keep fonts local: ReDoc's default names web fonts it does not ship.
		theme: { typography: { fontFamily: "system-ui, sans-serif", headings: { fontFamily: "system-ui, sans-serif" } } },
	}, document.getElementById("redoc"));
});
