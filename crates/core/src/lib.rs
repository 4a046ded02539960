pub mod taxonomy;
