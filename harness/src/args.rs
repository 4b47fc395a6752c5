//! The one way every subcommand reads its command line: lexopt, with the GNU conventions
//! (`--opt value`, `--opt=value`, combined short flags `-qh`, `--` before FILTERs that look
//! like options), and each error as one line.

pub use lexopt::{Arg, Parser};

/// `nsconform --version`: the version and the commit the binary was built from.
pub const VERSION: &str = concat!("nsconform ", env!("CARGO_PKG_VERSION"), " (", env!("NSCONFORM_COMMIT"), ")");

pub fn parser(args: &[String]) -> Parser {
    Parser::from_args(args.iter().cloned())
}

/// The value of the option just read (`name` as the user wrote it), as UTF-8.
pub fn value(parser: &mut Parser, name: &str) -> Result<String, String> {
    let value = parser.value().map_err(|_| format!("{name} needs a value"))?;
    text(value, name)
}

/// The value of the option just read, as a positive number.
pub fn positive<T: std::str::FromStr + PartialOrd + Default>(parser: &mut Parser, name: &str) -> Result<T, String> {
    let text = value(parser, name)?;
    text.parse().ok().filter(|n| *n > T::default()).ok_or_else(|| format!("{name} wants a positive number, not {text:?}"))
}

/// A positional argument (or a value) as UTF-8.
pub fn text(value: std::ffi::OsString, what: &str) -> Result<String, String> {
    value.into_string().map_err(|v| format!("{what}: {v:?} is not UTF-8"))
}

/// The option as the user wrote it, for messages: `-q` or `--quiet`.
pub fn shown(arg: &Arg) -> String {
    match arg {
        Arg::Short(c) => format!("-{c}"),
        Arg::Long(name) => format!("--{name}"),
        Arg::Value(v) => v.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn reads_attached_values_combined_flags_and_the_end_of_options() {
        let mut p = parser(&args("--out=dir -qh -- --not-an-option"));
        assert_eq!(p.next().unwrap(), Some(Arg::Long("out")));
        assert_eq!(value(&mut p, "--out").unwrap(), "dir");
        assert_eq!(p.next().unwrap(), Some(Arg::Short('q')));
        assert_eq!(p.next().unwrap(), Some(Arg::Short('h')));
        let Some(Arg::Value(v)) = p.next().unwrap() else { panic!("a value after --") };
        assert_eq!(v, "--not-an-option");
        let mut p = parser(&args("--out"));
        p.next().unwrap();
        assert_eq!(value(&mut p, "--out").unwrap_err(), "--out needs a value");
    }
}
