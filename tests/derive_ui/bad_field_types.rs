use tower_sse::IntoEvent;

#[derive(IntoEvent)]
struct FloatId {
    #[sse(id)]
    id: f64,
    data: u8,
}

#[derive(IntoEvent)]
struct SecondsRetry {
    #[sse(retry)]
    retry: u64,
}

struct NotSerialize;

#[derive(IntoEvent)]
enum Holds {
    It(NotSerialize),
}

fn main() {}
