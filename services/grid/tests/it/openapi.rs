//! The OpenAPI document says what the grid's routes do: every JSON body route documents its 415,
//! every query parameter is `in: query`, and every path parameter is one of its path.

use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(zw_grid::openapi()).unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_that_takes_json_documents_the_415_of_any_other_content_type() {
    let doc = document();
    let mut missing = Vec::new();
    for (method, path, op) in operations(&doc) {
        let json_body = op["requestBody"]["content"]
            .as_object()
            .is_some_and(|c| c.contains_key("application/json"));
        // The jurisdictions import takes CSV too, and says so with its own 415.
        if json_body && op["responses"].get("415").is_none() {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(missing.is_empty(), "no 415 documented: {missing:#?}");
}

#[test]
fn query_parameters_are_in_the_query_and_path_parameters_in_the_path() {
    let doc = document();
    let mut wrong = Vec::new();
    for (method, path, op) in operations(&doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or_default();
            let place = p["in"].as_str().unwrap_or_default();
            // The page parameters are zw_platform's `PageQuery`, placed by the platform.
            if ["limit", "cursor"].contains(&name) {
                continue;
            }
            let in_template = path.contains(&format!("{{{name}}}"));
            if (place == "path") != in_template {
                wrong.push(format!("{method} {path}: {name} in {place}"));
            }
        }
    }
    assert!(wrong.is_empty(), "misplaced parameters: {wrong:#?}");
}

#[test]
fn the_routes_that_refuse_by_id_document_their_404_and_their_refusals() {
    let doc = document();
    let mut missing = Vec::new();
    for (method, path, op) in operations(&doc) {
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        let by_id = path.contains('{');
        if secured && by_id && op["responses"].get("404").is_none() {
            missing.push(format!("{method} {path}: 404"));
        }
        if op.get("requestBody").is_some() && op["responses"].get("400").is_none() {
            missing.push(format!("{method} {path}: 400"));
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}
