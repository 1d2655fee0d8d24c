use tower_sse::IntoEvent;

#[derive(IntoEvent)]
#[sse(rename_all = "snake-case")]
enum UnknownRule {
    A(u8),
}

#[derive(IntoEvent)]
enum LineBreak {
    #[sse(rename = "a\nb")]
    A(u8),
}

#[derive(IntoEvent)]
#[sse(event = "x")]
enum EventOnEnum {
    A(u8),
}

#[derive(IntoEvent)]
struct TwoIds {
    #[sse(id)]
    a: u64,
    #[sse(id)]
    b: u64,
}

#[derive(IntoEvent)]
enum Pair {
    Both(u8, u8),
}

#[derive(IntoEvent)]
struct Typo {
    #[sse(idd)]
    a: u64,
}

fn main() {}
