"""The sensor endpoints (`/api/v1/token`, `/api/v1/sensor_input` and its batch form,
`/api/v1/script_accepted`, the `/api/v2/` energy, gas and water inputs): protobuf parsers and
renderers, views, routes."""
