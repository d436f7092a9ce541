// Starts Swagger UI on /openapi.json. It is a file rather than an inline
// script so that the page's Content-Security-Policy can forbid inline
// scripts (script-src 'self').
"use strict";
window.addEventListener("load", function () {
	window.ui = SwaggerUIBundle({
		url: "/openapi.json", // same origin: "try it" calls this api, as the spec's server "/"
		dom_id: "#swagger-ui",
		layout: "BaseLayout", // no top bar: the page has its own
		deepLinking: true,
		docExpansion: "list",
		defaultModelsExpandDepth: 1,
		displayRequestDuration: true,
		filter: true,
		showExtensions: false,
		// The key given to Authorize lives in this tab's memory only, never
		// in localStorage, and is sent as X-API-Key or Authorization: Bearer.
		persistAuthorization: false,
		// No call to validator.swagger.io: the page works offline, and the
		// policy would refuse it.
		validatorUrl: null,
		// Ignore ?url= and ?configUrl= in the page's address: a link must
		// not point the page at another description.
		queryConfigEnabled: false,
	});
});
