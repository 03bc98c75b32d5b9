using System.CommandLine;

namespace Shoal.Cli;

/// <summary>Options every client command takes.</summary>
internal static class GlobalOptions
{
    /// <summary>The default local API socket (the agent's default data directory).</summary>
    public const string DefaultHost = "unix:///var/lib/shoal/shoal.sock";

    /// <summary>The node's local API to talk to: <c>-H/--host</c>, else <c>SHOAL_HOST</c>, else <see cref="DefaultHost"/>.</summary>
    public static readonly Option<string?> Host = new("--host", "-H")
    {
        Description = "The node's local API to talk to (unix:///path/to/shoal.sock); default: $SHOAL_HOST, else " + DefaultHost,
        Recursive = true,
    };

    /// <summary>The host a parse result names, with the environment's fallbacks.</summary>
    public static string HostOf(System.CommandLine.ParseResult parse, CliEnvironment environment) =>
        parse.GetValue(Host) is { Length: > 0 } host ? host
        : environment.Variable("SHOAL_HOST") is { Length: > 0 } fromEnvironment ? fromEnvironment
        : DefaultHost;
}
