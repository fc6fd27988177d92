// Swagger UI over zhibao's own OpenAPI document, from a file: the page has no inline script.
window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#swagger-ui" });
