//! [`EventReader`]: a [`Stream`] of parsed items over an [`http_body::Body`].

use std::{
    pin::Pin,
    task::{ready, Context, Poll},
};

use bytes::Buf;
use futures_core::{FusedStream, Stream};
use http_body::Body;

use super::{Item, Parser};
use crate::{BoxError, Error, ErrorKind};

pin_project_lite::pin_project! {
    /// A [`Stream`] of the items in a `text/event-stream` body.
    ///
    /// Data frames go through a [`Parser`]; trailers are skipped. At the end
    /// of the body the parser is finished (an incomplete final event is
    /// dropped) and the stream ends. A body error is yielded once, as an
    /// error of kind [`ErrorKind::Body`] whose source is the body's error,
    /// and so is a parser error; either ends the stream. Once ended, the
    /// stream keeps returning `None`.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use http_body_util::Full;
    /// use tower_sse::parse::{EventReader, Item, MessageEvent};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let body = Full::new(bytes::Bytes::from_static(b"data: hi\n\n"));
    /// let items: Vec<_> = EventReader::new(body).collect().await;
    /// assert_eq!(items.len(), 1);
    /// assert_eq!(items[0].as_ref().unwrap(), &Item::Event(MessageEvent::new("hi")));
    /// # });
    /// ```
    #[derive(Debug)]
    #[must_use = "an event reader reads nothing unless it is polled"]
    pub struct EventReader<B> {
        #[pin]
        body: B,
        parser: Parser,
        done: bool,
        error: Option<Error>,
    }
}

impl<B> EventReader<B> {
    /// Reads `body` with a default [`Parser`].
    ///
    /// ```
    /// use http_body_util::Empty;
    /// use tower_sse::parse::EventReader;
    ///
    /// let reader = EventReader::new(Empty::<bytes::Bytes>::new());
    /// assert_eq!(reader.parser().last_event_id(), "");
    /// ```
    pub fn new(body: B) -> Self {
        Self::with_parser(body, Parser::new())
    }

    /// Reads `body` with the given parser, to choose its buffer limit or to
    /// carry the last event ID and retry time over from an earlier stream.
    ///
    /// ```
    /// use http_body_util::Empty;
    /// use tower_sse::parse::{EventReader, Parser};
    ///
    /// let parser = Parser::new().max_buffered(64 * 1024);
    /// let reader = EventReader::with_parser(Empty::<bytes::Bytes>::new(), parser);
    /// # let _ = reader;
    /// ```
    pub fn with_parser(body: B, parser: Parser) -> Self {
        Self {
            body,
            parser,
            done: false,
            error: None,
        }
    }

    /// Consumes the reader and returns the body.
    ///
    /// ```
    /// use http_body_util::Full;
    /// use tower_sse::parse::EventReader;
    ///
    /// let body = EventReader::new(Full::new(bytes::Bytes::from_static(b"x"))).into_inner();
    /// # let _ = body;
    /// ```
    pub fn into_inner(self) -> B {
        self.body
    }

    /// Borrows the body.
    ///
    /// ```
    /// use http_body::Body;
    /// use http_body_util::Empty;
    /// use tower_sse::parse::EventReader;
    ///
    /// let reader = EventReader::new(Empty::<bytes::Bytes>::new());
    /// assert!(reader.get_ref().is_end_stream());
    /// ```
    pub fn get_ref(&self) -> &B {
        &self.body
    }

    /// Borrows the parser, for its last event ID and retry time.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use http_body_util::Full;
    /// use tower_sse::parse::EventReader;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let body = Full::new(bytes::Bytes::from_static(b"id: 3\ndata: x\n\n"));
    /// let mut reader = EventReader::new(body);
    /// while reader.next().await.is_some() {}
    /// assert_eq!(reader.parser().last_event_id(), "3");
    /// # });
    /// ```
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// The parser, to hand back events ([`Parser::recycle`]).
    pub(crate) fn parser_mut(self: Pin<&mut Self>) -> &mut Parser {
        self.project().parser
    }
}

impl<B> Stream for EventReader<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Item = Result<Item, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(item) = this.parser.next_item() {
                return Poll::Ready(Some(Ok(item)));
            }
            if let Some(error) = this.error.take() {
                return Poll::Ready(Some(Err(error)));
            }
            if *this.done {
                return Poll::Ready(None);
            }
            match ready!(this.body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(mut data) = frame.into_data() else {
                        continue; // trailers
                    };
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        let len = chunk.len();
                        if let Err(error) = this.parser.feed(chunk) {
                            // Items before the failing line come out first.
                            *this.error = Some(error);
                            *this.done = true;
                            break;
                        }
                        data.advance(len);
                    }
                }
                Some(Err(error)) => {
                    this.parser.finish();
                    *this.error = Some(Error::with_source(ErrorKind::Body, error));
                    *this.done = true;
                }
                None => {
                    this.parser.finish();
                    *this.done = true;
                }
            }
        }
    }
}

impl<B> FusedStream for EventReader<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    fn is_terminated(&self) -> bool {
        self.done && self.error.is_none() && !self.parser.has_items()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures_util::{stream, StreamExt};
    use http_body::Frame;
    use http_body_util::StreamBody;
    use std::io;

    type Chunk = Result<Frame<Bytes>, io::Error>;

    fn body(chunks: Vec<Chunk>) -> StreamBody<stream::Iter<std::vec::IntoIter<Chunk>>> {
        StreamBody::new(stream::iter(chunks))
    }

    fn data(bytes: &'static [u8]) -> Chunk {
        Ok(Frame::data(Bytes::from_static(bytes)))
    }

    #[tokio::test]
    async fn trailers_are_skipped() {
        let trailers = Ok(Frame::trailers(http::HeaderMap::new()));
        let mut reader = EventReader::new(body(vec![data(b"data: a\n"), trailers, data(b"\n")]));
        let event = reader.next().await.unwrap().unwrap().into_event().unwrap();
        assert_eq!(event.data, "a");
        assert!(reader.next().await.is_none());
        assert!(reader.is_terminated());
    }

    #[tokio::test]
    async fn buffer_full_comes_after_the_items_before_it_and_ends_the_stream() {
        let parser = Parser::new().max_buffered(8);
        let chunks = vec![
            data(b"data: ok\n\n:too long for this\n"),
            data(b"data: no\n\n"),
        ];
        let mut reader = EventReader::with_parser(body(chunks), parser);
        let first = reader.next().await.unwrap().unwrap();
        assert_eq!(first.into_event().unwrap().data, "ok");
        let err = reader.next().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferFull);
        assert!(reader.next().await.is_none());
        assert!(reader.next().await.is_none());
    }

    #[tokio::test]
    async fn non_contiguous_buffers_are_read_in_full() {
        let buf = Bytes::from_static(b"data: a").chain(Bytes::from_static(b"bc\n\n"));
        let frames = stream::iter(vec![Ok::<_, io::Error>(Frame::data(buf))]);
        let mut reader = EventReader::new(StreamBody::new(frames));
        let event = reader.next().await.unwrap().unwrap().into_event().unwrap();
        assert_eq!(event.data, "abc");
    }
}
