//! How the `flink` command fails, in Flink's two ways: a wrong command line (`CliArgsException`:
//! the message, a blank line and a pointer to `-h`, on stdout) and everything else (the Java
//! exception chain under "The program finished with the following exception:", on stderr).
//!
//! The chain keeps Flink's exception class names and messages ("Could not cancel job …",
//! "Caused by: …RestClientException: […]") because users grep for them; Weir has no stack
//! frames to show, so each exception is one line.

use std::fmt;

/// Java class names Flink's messages carry.
pub mod class {
    /// `org.apache.flink.util.FlinkException`.
    pub const FLINK_EXCEPTION: &str = "org.apache.flink.util.FlinkException";
    /// The REST client's error for an error response.
    pub const REST_CLIENT_EXCEPTION: &str = "org.apache.flink.runtime.rest.util.RestClientException";
    /// A program that failed to run.
    pub const PROGRAM_INVOCATION_EXCEPTION: &str = "org.apache.flink.client.program.ProgramInvocationException";
    /// A failed job.
    pub const JOB_EXECUTION_EXCEPTION: &str = "org.apache.flink.runtime.client.JobExecutionException";
    /// A cancelled job.
    pub const JOB_CANCELLATION_EXCEPTION: &str = "org.apache.flink.runtime.client.JobCancellationException";
    /// A bad value.
    pub const ILLEGAL_ARGUMENT: &str = "java.lang.IllegalArgumentException";
    /// Something a deployment cannot do.
    pub const UNSUPPORTED_OPERATION: &str = "java.lang.UnsupportedOperationException";
    /// No connection to the REST endpoint.
    pub const CONNECT_EXCEPTION: &str = "java.net.ConnectException";
    /// A wait past `client.timeout`.
    pub const TIMEOUT_EXCEPTION: &str = "java.util.concurrent.TimeoutException";
    /// A configuration that cannot be read.
    pub const ILLEGAL_CONFIGURATION: &str = "org.apache.flink.configuration.IllegalConfigurationException";
}

/// A Java exception and its causes, as `Throwable.printStackTrace` prints them (without frames).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The exception class; empty for text that already is a rendered exception (a server's
    /// stack trace).
    class: String,
    /// The message, if any.
    message: Option<String>,
    /// What caused it.
    cause: Option<Box<Failure>>,
}

impl Failure {
    /// An exception of `class` with `message`.
    pub fn new(class: &str, message: impl Into<String>) -> Self {
        Failure { class: class.to_string(), message: Some(message.into()), cause: None }
    }

    /// An exception of `class` without a message.
    pub fn bare(class: &str) -> Self {
        Failure { class: class.to_string(), message: None, cause: None }
    }

    /// Text that is printed as it is (a stack trace the server sent).
    pub fn raw(text: impl Into<String>) -> Self {
        Failure { class: String::new(), message: Some(text.into()), cause: None }
    }

    /// This exception, caused by `cause`.
    pub fn caused_by(mut self, cause: Failure) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// `Throwable.toString`: `class: message`.
    pub fn headline(&self) -> String {
        match (&self.message, self.class.is_empty()) {
            (Some(message), true) => message.clone(),
            (Some(message), false) => format!("{}: {message}", self.class),
            (None, _) => self.class.clone(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        let mut cause = self.cause.as_deref();
        while let Some(c) = cause {
            write!(f, "\nCaused by: {}", c.headline())?;
            cause = c.cause.as_deref();
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Flink's `CliArgsException`: the command line is wrong.
    #[error("{0}")]
    Args(String),
    /// Anything else, printed as an exception chain.
    #[error("{0}")]
    Failed(#[from] Failure),
}

impl From<super::parse::ParseError> for CliError {
    fn from(error: super::parse::ParseError) -> Self {
        CliError::Args(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_chain_one_line_each() {
        let failure = Failure::new(class::FLINK_EXCEPTION, "Could not cancel job 5e20cb6b0f357591171dfcca2eea09de.")
            .caused_by(Failure::new(class::REST_CLIENT_EXCEPTION, "[Job could not be found.]"));
        assert_eq!(
            failure.to_string(),
            "org.apache.flink.util.FlinkException: Could not cancel job 5e20cb6b0f357591171dfcca2eea09de.\nCaused by: org.apache.flink.runtime.rest.util.RestClientException: [Job could not be found.]"
        );
        assert_eq!(Failure::bare(class::TIMEOUT_EXCEPTION).to_string(), "java.util.concurrent.TimeoutException");
        assert_eq!(Failure::raw("x: y\n\tat z").to_string(), "x: y\n\tat z");
    }
}
