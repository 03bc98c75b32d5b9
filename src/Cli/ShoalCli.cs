using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
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
        root.Subcommands.Add(ServiceCommands.Create(environment));
        root.Subcommands.Add(DemoCommand.Create(environment));
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args, CliEnvironment environment, CancellationToken cancellationToken = default)
    {
        var root = Build(environment);
        var parse = root.Parse(args, new ParserConfiguration());
        if (parse.Action is ParseErrorAction)
        {
            ReportParseErrors(parse, environment.Error);
            return 1;
        }

        return await parse.InvokeAsync(new InvocationConfiguration { Output = environment.Out, Error = environment.Error }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A command line that does not parse runs nothing (no request reaches the node): its errors are printed, with the
    /// way to the help of the command concerned, as docker does (<c>See 'docker node update --help'.</c>).
    /// </summary>
    private static void ReportParseErrors(ParseResult parse, TextWriter error)
    {
        foreach (var message in parse.Errors.Select(e => e.Message).Distinct(StringComparer.Ordinal))
        {
            error.WriteLine(message);
        }

        var names = new List<string>();
        for (SymbolResult? result = parse.CommandResult; result is CommandResult command && command.Parent is not null; result = command.Parent)
        {
            names.Insert(0, command.Command.Name);
        }

        error.WriteLine($"See '{string.Join(' ', ["shoal", .. names])} --help'.");
    }
}
