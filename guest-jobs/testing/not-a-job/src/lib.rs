//! A well-formed component of another world: Weir must refuse it as a job with a clear error.

wit_bindgen::generate!({ world: "other", path: "wit" });

struct Greeter;

impl exports::test::other::greeter::Guest for Greeter {
    fn greet() -> String {
        "hello".to_string()
    }
}

export!(Greeter);
