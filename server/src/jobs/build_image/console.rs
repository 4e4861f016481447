//! How the builder reports: the install script writes one result line to the serial
//! console and powers the instance off; the portal waits for `stopped` and reads the line
//! back through `GetConsoleOutput`. The marker lives here only: the install script is
//! rendered with it, the build job parses it, and the simulated cloud prints it.
//!
//! ```text
//! PORTAL-BUILD-RESULT: ok
//! PORTAL-BUILD-RESULT: failed step=<step-name> exit=<code>
//! ```

use base64::Engine as _;

/// Starts the builder's result line on its console.
pub const RESULT_MARKER: &str = "PORTAL-BUILD-RESULT:";

/// The install script's steps, by the names its failure line uses, in order.
pub const INSTALL_STEPS: [&str; 7] = [
    "prerequisites",
    "repository",
    "license",
    "package",
    "installation-type",
    "clean-up",
    "first-boot",
];

/// How many of the console's last lines a failed build shows.
pub const LAST_LINES: usize = 30;

/// What the builder's console says about the install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildResult {
    /// The install finished and the image may be made.
    Ok,
    /// A step of the install failed.
    Failed {
        /// The script's name of the step (`package`, `license`, …).
        step: String,
        /// The exit code of the command that failed.
        exit: i32,
        /// The console's last lines, for the job's error.
        last_lines: String,
    },
    /// No result line (yet): the console may lag behind the instance's state.
    Missing,
}

/// Reads the builder's result from its console output (already decoded). The last result
/// line wins; a line that is cut off or garbled is not a result.
pub fn read_result(console: &str) -> BuildResult {
    let mut result = BuildResult::Missing;
    for line in console.lines() {
        let Some(at) = line.find(RESULT_MARKER) else {
            continue;
        };
        let rest = line[at + RESULT_MARKER.len()..].trim();
        if rest == "ok" {
            result = BuildResult::Ok;
        } else if let Some((step, exit)) = parse_failure(rest) {
            result = BuildResult::Failed {
                step,
                exit,
                last_lines: last_lines(console, LAST_LINES),
            };
        }
    }
    result
}

/// `failed step=<name> exit=<code>`, nothing else.
fn parse_failure(rest: &str) -> Option<(String, i32)> {
    let mut words = rest.split_whitespace();
    if words.next()? != "failed" {
        return None;
    }
    let step = words.next()?.strip_prefix("step=")?;
    let exit = words.next()?.strip_prefix("exit=")?.parse().ok()?;
    let step_ok = !step.is_empty()
        && step
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (step_ok && words.next().is_none()).then(|| (step.to_owned(), exit))
}

/// The last `n` non-empty lines of the console, without carriage returns or control
/// characters (a serial console carries both).
pub fn last_lines(console: &str, n: usize) -> String {
    let lines: Vec<String> = console
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect::<String>()
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `GetConsoleOutput` answers with the console as base64; an absent or undecodable answer
/// reads as an empty console (it is empty for a while after the instance stops).
pub fn decode_output(output: Option<&str>) -> String {
    let Some(encoded) = output else {
        return String::new();
    };
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_line_reads_ok() {
        let console = "[  12.3] cloud-init[812]: Reading package lists...\nPORTAL-BUILD-RESULT: ok\n[  80.1] reboot: Power down\n";
        assert_eq!(read_result(console), BuildResult::Ok);
    }

    #[test]
    fn the_last_result_line_wins() {
        let console =
            "PORTAL-BUILD-RESULT: failed step=package exit=100\nPORTAL-BUILD-RESULT: ok\n";
        assert_eq!(read_result(console), BuildResult::Ok);
        let console = "PORTAL-BUILD-RESULT: ok\nPORTAL-BUILD-RESULT: failed step=clean-up exit=1\n";
        assert!(matches!(
            read_result(console),
            BuildResult::Failed { step, exit: 1, .. } if step == "clean-up"
        ));
    }

    #[test]
    fn a_failure_names_the_step_the_exit_code_and_the_last_lines() {
        let mut console = String::new();
        for i in 0..50 {
            console.push_str(&format!("cloud-init[1]: line {i}\r\n"));
        }
        console.push_str("E: Unable to locate package awscli\n");
        console.push_str("PORTAL-BUILD-RESULT: failed step=prerequisites exit=100\n");
        let BuildResult::Failed {
            step,
            exit,
            last_lines,
        } = read_result(&console)
        else {
            panic!("not a failure");
        };
        assert_eq!((step.as_str(), exit), ("prerequisites", 100));
        assert_eq!(last_lines.lines().count(), LAST_LINES);
        assert!(last_lines.contains("Unable to locate package awscli"));
        assert!(!last_lines.contains('\r'));
        assert!(!last_lines.contains("line 0\n"));
    }

    #[test]
    fn garbage_and_partial_lines_are_not_results() {
        for console in [
            "",
            "cloud-init[1]: booting\n",
            "PORTAL-BUILD-RESULT:\n",
            "PORTAL-BUILD-RESULT: o",
            "PORTAL-BUILD-RESULT: okay\n",
            "PORTAL-BUILD-RESULT: failed step=pack",
            "PORTAL-BUILD-RESULT: failed step=package exit=\n",
            "PORTAL-BUILD-RESULT: failed step=package exit=1x\n",
            "PORTAL-BUILD-RESULT: failed step= exit=1\n",
            "PORTAL-BUILD-RESULT: failed exit=1 step=package\n",
            "PORTAL-BUILD-RESULT: failed step=package exit=1 and more\n",
            "PORTAL-BUILD-RESUL",
        ] {
            assert_eq!(read_result(console), BuildResult::Missing, "{console:?}");
        }
        // A garbled line after a real result does not undo it.
        assert_eq!(
            read_result("PORTAL-BUILD-RESULT: ok\nPORTAL-BUILD-RESULT: fai"),
            BuildResult::Ok
        );
    }

    #[test]
    fn console_output_decodes_from_base64() {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode("hello\nPORTAL-BUILD-RESULT: ok\n");
        assert_eq!(read_result(&decode_output(Some(&encoded))), BuildResult::Ok);
        assert_eq!(decode_output(None), "");
        assert_eq!(decode_output(Some("not base64!")), "");
        let wrapped = format!("{}\n{}", &encoded[..8], &encoded[8..]);
        assert_eq!(
            decode_output(Some(&wrapped)),
            "hello\nPORTAL-BUILD-RESULT: ok\n"
        );
    }
}
