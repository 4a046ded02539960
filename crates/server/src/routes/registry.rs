//! A router that records the (method, path) of each route it is given.
//! axum cannot list a router's routes; this list lets the tests check that
//! every route is documented (the API's, in the OpenAPI document) and has a
//! row in the role matrix (every route, pages included).

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::app::AppState;

#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    registered: Vec<(Method, &'static str)>,
}

impl Routes {
    /// Routes `method path` to `handler` (for that method only) and records it.
    pub fn add<H, T>(self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a method axum can route");
        self.add_method_router(method, path, on(filter, handler))
    }

    pub fn get<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::GET, path, handler)
    }

    pub fn post<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::POST, path, handler)
    }

    /// Routes `path` to a method router serving `method` alone (one with its
    /// own layers, say a larger body limit) and records it.
    pub fn add_method_router(
        mut self,
        method: Method,
        path: &'static str,
        route: MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, route);
        self.registered.push((method, path));
        self
    }

    /// Both routers' routes, and both lists.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.registered.extend(other.registered);
        self
    }

    /// (method, path) of every route, in the order added.
    pub fn registered(&self) -> &[(Method, &'static str)] {
        &self.registered
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
