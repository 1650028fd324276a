//! The contract of one function (to be written).
