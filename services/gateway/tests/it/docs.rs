//! The merged OpenAPI document, the docs page, and the landing page.

use serde_json::Value;

use crate::helpers::{closed_port_url, spawn_gateway, spawn_gateway_with};

#[tokio::test]
async fn the_merged_document_has_every_service_s_paths_tagged_by_service() {
    let gw = spawn_gateway().await;

    let res = gw.get("/api/openapi.json").await;

    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Zhiwang API");
    assert_eq!(
        doc["paths"]["/api/v1/grid/things"]["get"]["tags"][0],
        "grid"
    );
    assert_eq!(
        doc["paths"]["/api/v1/credit/things"]["get"]["tags"][0],
        "credit"
    );
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for service in ["gateway", "grid", "credit"] {
        assert!(tags.contains(&service), "{service} in {tags:?}");
    }
    // Both fakes define a different `Thing`: one keeps the name, the other is renamed.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    assert!(
        schemas.contains_key("Thing") && schemas.contains_key("grid_Thing"),
        "{schemas:?}"
    );
    assert!(doc.get("x-zhiwang-unavailable").is_none());
}

#[tokio::test]
async fn a_service_that_is_down_is_left_out_of_the_document_with_a_note() {
    let gw = spawn_gateway_with(|s| {
        s.settings
            .gateway
            .upstreams
            .insert("street".into(), closed_port_url());
    })
    .await;

    let doc: Value = gw
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");

    assert!(
        doc["paths"]["/api/v1/grid/things"].is_object(),
        "the others are still there"
    );
    let description = doc["info"]["description"].as_str().expect("description");
    assert!(description.contains("`street`"), "{description}");
    assert_eq!(doc["x-zhiwang-unavailable"], serde_json::json!(["street"]));
}

#[tokio::test]
async fn the_gateway_serves_its_own_document() {
    let gw = spawn_gateway().await;

    let doc: Value = gw
        .get("/api/v1/gateway/openapi.json")
        .await
        .json()
        .await
        .expect("json");

    assert!(doc["paths"]["/api/openapi.json"].is_object());
}

#[tokio::test]
async fn the_docs_page_is_browsable_html_showing_the_merged_document() {
    let gw = spawn_gateway().await;

    let page = gw.get("/api/docs").await;
    assert_eq!(page.status(), 200, "the page itself, not a redirect");
    let html = page.text().await.expect("text");
    assert!(html.contains("swagger-ui"), "{html}");
    // Its relative asset links resolve under /api/docs/, where the assets are.
    assert!(html.contains(r#"<base href="/api/docs/">"#), "{html}");
    let css = gw.get("/api/docs/swagger-ui.css").await;
    assert_eq!(css.status(), 200);
    let page = gw.get("/api/docs/").await;
    assert_eq!(page.status(), 200);
    let content_type = page
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    assert!(
        content_type.is_some_and(|c| c.starts_with("text/html")),
        "{content_type:?}"
    );
    assert!(page.text().await.expect("text").contains("swagger"));
    let init = gw
        .get("/api/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .expect("text");
    assert!(init.contains("/api/openapi.json"), "{init}");
}

#[tokio::test]
async fn the_landing_page_links_the_docs() {
    let gw = spawn_gateway().await;

    let res = gw.get("/").await;

    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .expect("text")
            .contains(r#"href="/api/docs""#)
    );
}

#[tokio::test]
async fn the_declaration_page_a_qr_code_opens_asks_for_the_two_fields_and_calls_the_api() {
    let gw = spawn_gateway().await;

    let res = gw.get("/declare?house=44030400100100100014").await;

    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let page = res.text().await.expect("text");
    // The house code comes from the query; the citizen types his ID number and signs in.
    assert!(page.contains(r#"params.get("house")"#), "{page}");
    for field in ["house_code", "id_number", "username", "password"] {
        assert!(page.contains(&format!(r#"id="{field}""#)), "{field}");
    }
    for api in [
        "/api/v1/grid/houses/",
        "/api/v1/identity/token",
        "/api/v1/grid/declarations",
    ] {
        assert!(page.contains(api), "{api}");
    }
}

#[tokio::test]
async fn the_gateway_reports_itself_alive_and_ready_without_redis() {
    let gw = spawn_gateway().await;

    assert_eq!(gw.get("/healthz").await.status(), 200);
    assert_eq!(gw.get("/readyz").await.status(), 200);
    assert!(
        gw.get("/metrics")
            .await
            .text()
            .await
            .expect("text")
            .contains("zw_")
    );
}
