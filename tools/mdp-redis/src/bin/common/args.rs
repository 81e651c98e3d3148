//! The `--name value` arguments of the crate's measuring and test bins.

use std::collections::HashMap;

/// Every `--name` takes the next argument as its value, except the `flags`, which stand alone
/// (stored as `"1"`). Anything else is an error naming it.
pub(crate) fn parse(
    mut it: impl Iterator<Item = String>,
    flags: &[&str],
) -> Result<HashMap<String, String>, String> {
    let mut args = HashMap::new();
    while let Some(k) = it.next() {
        let Some(name) = k.strip_prefix("--") else {
            return Err(format!("unexpected argument {k:?}"));
        };
        if flags.contains(&name) {
            args.insert(name.to_string(), "1".to_string());
            continue;
        }
        let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        args.insert(name.to_string(), v);
    }
    Ok(args)
}

/// `--k` as a number, `d` when absent; a value that is not one names the argument.
pub(crate) fn num(args: &HashMap<String, String>, k: &str, d: u64) -> Result<u64, String> {
    args.get(k).map_or(Ok(d), |v| {
        v.parse().map_err(|e| format!("--{k} {v:?}: {e}"))
    })
}
