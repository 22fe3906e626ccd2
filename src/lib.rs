//! arrjit: a JIT compiler for array expressions.
#![deny(unsafe_code)]

pub mod algo;
pub mod array;
pub mod ast;
pub mod codegen;
pub mod diagnostic;
pub mod display;
pub mod engine;
pub mod error;
pub mod explain;
pub mod fuse;
pub mod interp;
pub mod ir;
#[allow(unsafe_code)]
pub mod jit;
pub mod lex;
pub mod lower;
pub mod npy;
pub mod par;
pub mod parse;
pub mod scalar;
pub mod stream;
pub mod types;
pub mod vmath;

pub use array::{Array, Buffer, BufferMut, Data, View, ViewMut};
pub use engine::{Arg, CacheStats, Config, Engine, Expr, Kernel, Mode, Module};
pub use error::{Error, ErrorKind, Result, Span};
pub use types::{DType, Scalar, Shape};
