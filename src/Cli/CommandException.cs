namespace Shoal.Cli;

/// <summary>
/// A failure the CLI reports in its own words, printed to standard error as it is (exit code 1): a flag the node
/// would refuse, a node that cannot be reached, an answer that makes no sense. Errors the node answers are
/// <see cref="LocalApi.LocalApiException"/>.
/// </summary>
internal sealed class CommandException(string message, Exception? innerException = null) : Exception(message, innerException);
