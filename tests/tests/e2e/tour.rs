//! The README's tour: each role's main page in a real browser at 1280 px,
//! laid out without a sideways scroll. With `SAFEPREF_SCREENSHOTS=DIR` the
//! test also saves the pictures the README shows (`docs/screenshots`).

use safepref_server::db::users::Role;
use safepref_tests::TestApp;
use safepref_tests::browser::{Page, TIMEOUT};

use crate::fixtures::{label, labels, user_id};

#[tokio::test]
async fn each_roles_main_page_fits_a_laptop_screen() {
    let app = TestApp::spawn().await;
    let (project, _) = crate::import::project_with_sample(&app.pool).await;
    // Three annotators label twelve items each, one of them differing now
    // and then, so the dashboard has figures to show.
    for annotator in 0..3 {
        let (name, _) = app.user(Role::Annotator).await;
        let id = user_id(&app.pool, &name).await;
        for n in 0..12 {
            let differs = annotator == 2 && n % 4 == 0;
            let labels = labels(n % 2 == 0 || differs, usize::from(differs), 2);
            label(&app.pool, &project, id, &labels, 20.0 + n as f64).await;
        }
    }
    let id = project.id;
    sqlx::query("update projects set name = 'PKU-SafeRLHF sample' where id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let tour = [
        (
            Role::Annotator,
            format!("/annotate/{id}"),
            "annotate",
            "form",
        ),
        (
            Role::Lead,
            format!("/review/projects/{id}"),
            "dashboard",
            "h1",
        ),
        (
            Role::Admin,
            format!("/admin/projects/{id}"),
            "project",
            "h1",
        ),
    ];
    for (role, path, name, ready) in tour {
        let (username, password) = app.user(role).await;
        let page = Page::start_as(&format!("tour.{name}")).await;
        page.sign_in(&app.base, &username, &password).await;
        page.goto(&app.url(&path)).await;
        page.wait_for(ready, TIMEOUT).await;
        let overflow = page
            .execute("const d = document.documentElement; return d.scrollWidth - d.clientWidth")
            .await;
        assert_eq!(
            overflow.as_i64(),
            Some(0),
            "{path} as {role:?} scrolls sideways at 1280 px"
        );
        let png = page.screenshot().await;
        assert!(png.starts_with(b"\x89PNG"), "{path}: a PNG screenshot");
        if let Ok(dir) = std::env::var("SAFEPREF_SCREENSHOTS") {
            std::fs::write(format!("{dir}/{name}.png"), &png).unwrap();
        }
        page.close().await;
    }
}
