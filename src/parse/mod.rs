//! placeholder until the parser lands
#![allow(missing_docs)]
