//! `GET /openapi.json`: an `OpenAPI` 3.0 document generated from the route list, so every served route is
//! documented with its parameters or body fields and its result codes.

use serde_json::{Map, Value, json};

use crate::routes::{Input, ROUTES, RouteDef, Security};

/// Codes any AK/SK-authenticated route can answer.
const AUTH_CODES: &[&str] = &[
    "1010001", "1010003", "1010004", "1020176", "1023006", "1023007", "1023008", "1023009", "1023010",
    "1023011", "1023012", "1023033", "1023034", "1023035", "1023036", "1023037", "1023038",
];

/// The whole `OpenAPI` document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(ops) = entry {
            ops.insert(route.method.to_ascii_lowercase(), operation(route));
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "pnswitch provisioning API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Wire-compatible with the PrivateNumber reference (AXB, AX, AXE, AXYB) plus the \
                pnswitch admin API. Every answer is JSON {resultcode, resultdesc, ...}; resultcode \"0\" is success.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "aksk": {"type": "apiKey", "in": "header", "name": "X-AKSK",
                    "description": "Authorization: AKSK realm=\"SDP\",profile=\"UsernameToken\",type=\"Appkey\" plus \
                        X-AKSK: UsernameToken Username=..,PasswordDigest=Base64(HMAC-SHA256(secret, Nonce+Created)),Nonce=..,Created=.."},
                "admin": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Result": {"type": "object", "required": ["resultcode", "resultdesc"], "properties": {
                    "resultcode": {"type": "string"}, "resultdesc": {"type": "string"}}},
            },
        },
    })
}

fn operation(route: &RouteDef) -> Value {
    let mut op = Map::new();
    op.insert("summary".into(), route.summary.into());
    op.insert("operationId".into(), format!("{:?}", route.id).into());
    let mut params: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    match route.input {
        Input::Query => params.extend(route.fields.iter().map(|(name, ty, required, desc)| {
            json!({"name": name, "in": "query", "required": required, "description": desc, "schema": {"type": ty}})
        })),
        Input::Body => {
            let props: Map<String, Value> = route
                .fields
                .iter()
                .map(|(name, ty, _, desc)| ((*name).to_owned(), json!({"type": ty, "description": desc})))
                .collect();
            let required: Vec<&str> = route.fields.iter().filter(|f| f.2).map(|f| f.0).collect();
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "properties": props, "required": required}}}}),
            );
        }
        Input::Wav => {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}}),
            );
        }
        Input::None => {}
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    let mut codes: Vec<&str> = vec!["0"];
    codes.extend(route.codes);
    match route.security {
        Security::AkSk => {
            codes.extend(AUTH_CODES);
            op.insert("security".into(), json!([{"aksk": []}]));
        }
        Security::Admin => {
            op.insert("security".into(), json!([{"admin": []}]));
        }
        Security::Open => {}
    }
    op.insert("x-resultcodes".into(), json!(codes));
    let mut responses = json!({
            "200": {"description": "resultcode 0 (and business refusals that the reference answers with 200)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}},
            "400": {"description": "parameter or authentication error"},
            "403": {"description": "refused (1010002, 1010003, 1010004, 1010040)"},
            "500": {"description": "1010001 internal error"},
    });
    if route.id == crate::routes::RouteId::RecordUrl {
        responses["301"] = json!({"description": "resultcode 0: the signed download URL is in Location"});
    }
    op.insert("responses".into(), responses);
    Value::Object(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        let doc = document();
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            assert!(
                op.is_object(),
                "{} {} missing from openapi.json",
                route.method,
                route.path
            );
            assert!(op["responses"].is_object());
            for (name, ..) in route.fields {
                let in_params = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == *name));
                let in_body = op["requestBody"]["content"]["application/json"]["schema"]["properties"][*name]
                    .is_object();
                assert!(
                    in_params || in_body,
                    "{} {} field {name} undocumented",
                    route.method,
                    route.path
                );
            }
        }
    }

    #[test]
    fn routes_are_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "duplicate route {} {}",
                    a.method,
                    a.path
                );
                assert_ne!(a.id, b.id);
            }
        }
    }
}
