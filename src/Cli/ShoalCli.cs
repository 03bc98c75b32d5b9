using System.CommandLine;
using Shoal.Cli.Commands;

namespace Shoal.Cli;

/// <summary>The <c>shoal</c> command tree: <c>agent</c> runs a node; the other verbs are clients of a node's local API.</summary>
internal static class ShoalCli
{
    /// <summary>Builds the command tree over <paramref name="environment"/> (console, environment variables).</summary>
    public static RootCommand Build(CliEnvironment environment)
    {
        var root = new RootCommand("Shoal: a self-organizing container orchestrator. `shoal agent` runs a node; the other commands talk to a node's local API.");
        root.Options.Add(GlobalOptions.Host);
        root.Subcommands.Add(AgentCommand.Create(environment));
        root.Subcommands.Add(SwarmCommands.Create(environment));
        root.Subcommands.Add(NodeCommands.Create(environment));
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args, CliEnvironment environment, CancellationToken cancellationToken = default)
    {
        var root = Build(environment);
        var parse = root.Parse(args, new ParserConfiguration());
        return await parse.InvokeAsync(new InvocationConfiguration { Output = environment.Out, Error = environment.Error }, cancellationToken).ConfigureAwait(false);
    }
}
