//! The one reporter every command prints through: standard output and standard error for text, or
//! one JSON document on standard output for `--format json`.
//!
//! A write that fails (a closed pipe, a full disk) is not ignored: the reporter keeps the first
//! error, stops writing, and [`Reporter::finish`] turns an otherwise successful exit code into
//! [`exit::INTERNAL`](crate::exit::INTERNAL).

use clap::ValueEnum;
use std::fmt;
use std::io::Write;

/// Output format of the commands that report claims.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per claim and a summary.
    #[default]
    Human,
    /// One JSON document on standard output (messages still go to standard error).
    Json,
}

/// Where a command's output goes.
pub struct Reporter<'a> {
    out: &'a mut (dyn Write + Send),
    err: &'a mut (dyn Write + Send),
    /// The format the command was asked for.
    pub format: Format,
    failure: Option<std::io::Error>,
}

impl std::fmt::Debug for Reporter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporter")
            .field("format", &self.format)
            .field("failure", &self.failure)
            .finish()
    }
}

impl<'a> Reporter<'a> {
    /// A reporter over two streams, in human format.
    pub fn new(out: &'a mut (dyn Write + Send), err: &'a mut (dyn Write + Send)) -> Self {
        Self {
            out,
            err,
            format: Format::Human,
            failure: None,
        }
    }

    fn write(&mut self, to_err: bool, args: fmt::Arguments<'_>) {
        if self.failure.is_some() {
            return;
        }
        let stream: &mut (dyn Write + Send) = if to_err { self.err } else { self.out };
        if let Err(e) = stream.write_fmt(args) {
            self.failure = Some(e);
        }
    }

    /// Writes to standard output, whatever the format (the command's own product: a table, a
    /// path written).
    pub fn out(&mut self, args: fmt::Arguments<'_>) {
        self.write(false, args);
    }

    /// Writes to standard output in human format only (per-claim lines and summaries, which the
    /// JSON document carries instead).
    pub fn human(&mut self, args: fmt::Arguments<'_>) {
        if self.format == Format::Human {
            self.write(false, args);
        }
    }

    /// Writes to standard error (errors, hints), in every format.
    pub fn err(&mut self, args: fmt::Arguments<'_>) {
        self.write(true, args);
    }

    /// Writes `value` as pretty JSON and a newline on standard output, in JSON format only.
    pub fn json(&mut self, value: &serde_json::Value) {
        if self.format != Format::Json {
            return;
        }
        match serde_json::to_string_pretty(value) {
            Ok(text) => self.write(false, format_args!("{text}\n")),
            Err(e) => self.failure = Some(std::io::Error::other(e)),
        }
    }

    /// The exit code to return: `code`, or [`exit::INTERNAL`](crate::exit::INTERNAL) when `code`
    /// is success but some output could not be written.
    pub fn finish(mut self, code: u8) -> u8 {
        match self.failure.take() {
            Some(e) if code == crate::exit::OK => {
                // Standard output may be the stream that failed; standard error may still work.
                let _ignored = self
                    .err
                    .write_fmt(format_args!("error: cannot write output: {e}\n"));
                crate::exit::INTERNAL
            }
            _ => code,
        }
    }
}

/// `outln!(reporter, "...")`: a line on standard output.
#[macro_export]
macro_rules! outln {
    ($r:expr, $($t:tt)*) => { $r.out(format_args!("{}\n", format_args!($($t)*))) };
}

/// `humanln!(reporter, "...")`: a line on standard output in human format only.
#[macro_export]
macro_rules! humanln {
    ($r:expr, $($t:tt)*) => { $r.human(format_args!("{}\n", format_args!($($t)*))) };
}

/// `errln!(reporter, "...")`: a line on standard error.
#[macro_export]
macro_rules! errln {
    ($r:expr, $($t:tt)*) => { $r.err(format_args!("{}\n", format_args!($($t)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "closed",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_turns_success_into_an_internal_error() {
        let mut out = Broken;
        let mut err = Vec::new();
        let mut r = Reporter::new(&mut out, &mut err);
        outln!(r, "hello {}", 1);
        assert_eq!(r.finish(crate::exit::OK), crate::exit::INTERNAL);
        assert!(String::from_utf8_lossy(&err).contains("cannot write output"));
    }

    #[test]
    fn human_lines_are_dropped_in_json_format_and_json_in_human_format() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut r = Reporter::new(&mut out, &mut err);
        r.format = Format::Json;
        humanln!(r, "not shown");
        r.json(&serde_json::json!({"a": 1}));
        errln!(r, "shown");
        assert_eq!(r.finish(2), 2);
        assert_eq!(String::from_utf8_lossy(&out), "{\n  \"a\": 1\n}\n");
        assert_eq!(String::from_utf8_lossy(&err), "shown\n");
    }
}
