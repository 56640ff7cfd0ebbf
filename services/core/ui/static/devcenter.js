// Starts Swagger UI (the global SwaggerUIBundle of swagger-ui-bundle.js) on Berth's own spec. "Try it out"
// calls the API from this page with the browser's session cookie, as the UI's own scripts do (api.js): the
// CSRF token core hands out in every response is echoed on unsafe requests, and X-Requested-With keeps
// core from sending a Basic challenge (the browser's password dialog) with a 401.

const CSRF_HEADER = "x-harbor-csrf-token";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
let csrfToken = "";

window.ui = SwaggerUIBundle({
  url: "/api/v2.0/swagger.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // No online validator badge: the page loads nothing from elsewhere.
  validatorUrl: null,
  requestInterceptor: (request) => {
    request.headers["X-Requested-With"] = "XMLHttpRequest";
    if (UNSAFE.has(String(request.method).toUpperCase()) && csrfToken) request.headers[CSRF_HEADER] = csrfToken;
    return request;
  },
  responseInterceptor: (response) => {
    const token = response.headers?.[CSRF_HEADER];
    if (token) csrfToken = token;
    return response;
  },
});
