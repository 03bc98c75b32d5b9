using System.CommandLine;
using Shoal.Cli.LocalApi;

namespace Shoal.Cli.Commands;

/// <summary>
/// The plumbing every client verb shares: a client of the node the <c>--host</c> names, and errors reported as the
/// docker CLI reports them (<c>Error response from daemon: …</c> on standard error, exit code 1).
/// </summary>
internal static class ClientCommand
{
    /// <summary>The signature of a client verb's body: its exit code.</summary>
    public delegate Task<int> Body(ParseResult parse, LocalApiClient client, CancellationToken cancellationToken);

    /// <summary>Makes <paramref name="body"/> the action of <paramref name="command"/>.</summary>
    public static void SetAction(Command command, CliEnvironment environment, Body body)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                using var client = new LocalApiClient(GlobalOptions.HostOf(parse, environment));
                return await body(parse, client, cancellationToken);
            }
            catch (Exception e) when (e is LocalApiException or CommandException)
            {
                environment.Error.WriteLine(Describe(e));
                return 1;
            }
        });
    }

    /// <summary>The line an error is reported with.</summary>
    public static string Describe(Exception exception) =>
        exception is LocalApiException fromNode ? fromNode.Display : exception.Message;
}
