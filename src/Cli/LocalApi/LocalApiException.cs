namespace Shoal.Cli.LocalApi;

/// <summary>
/// The node answered a request with an error (any status outside 2xx): the status code and the message of its
/// <c>{"message": …}</c> body. The CLI prints it as Docker's does: <c>Error response from daemon: &lt;message&gt;</c>.
/// </summary>
internal sealed class LocalApiException(int statusCode, string message) : Exception(message)
{
    /// <summary>The HTTP status code of the answer.</summary>
    public int StatusCode { get; } = statusCode;

    /// <summary>The line the CLI prints on standard error.</summary>
    public string Display => "Error response from daemon: " + Message;
}
