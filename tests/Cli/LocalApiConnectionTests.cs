using System.Net.Sockets;

namespace Shoal.Cli.Tests;

/// <summary>Which node the CLI talks to, and what it says when it cannot.</summary>
public sealed class LocalApiConnectionTests : IAsyncLifetime
{
    private CliHarness _cli = null!;

    public async ValueTask InitializeAsync() => _cli = await CliHarness.StartAsync();

    public async ValueTask DisposeAsync() => await _cli.DisposeAsync();

    [Fact]
    public async Task NoSocket_TheErrorNamesTheSocket_AndWhatToDoNext()
    {
        var host = "unix://" + Path.Combine(_cli.Api.Directory, "missing.sock");

        var run = await CliHarness.RunWithAsync(["-H", host, "node", "ls"]);

        Assert.Equal((1, string.Empty), (run.ExitCode, run.Out));
        Assert.Equal($"cannot connect to the Shoal node at {host}: no such socket (is `shoal agent` running? set --host or SHOAL_HOST)\n", run.Error);
    }

    [Fact]
    public async Task ASocketNobodyListensOn_IsAConnectionRefused()
    {
        var path = Path.Combine(_cli.Api.Directory, "dead.sock");
        // A socket file nobody accepts on, as a node killed with -9 leaves it.
        using var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        dead.Bind(new UnixDomainSocketEndPoint(path));

        var run = await CliHarness.RunWithAsync(["-H", "unix://" + path, "swarm", "join-token", "worker"]);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal($"cannot connect to the Shoal node at unix://{path}: connection refused: nothing listens on the socket (is `shoal agent` running? set --host or SHOAL_HOST)\n", run.Error);
    }

    [Fact]
    public async Task TheHost_ComesFromShoalHost_WhenNoFlagNamesOne_AndTheFlagWins()
    {
        var fromVariable = await CliHarness.RunWithAsync(["node", "ls", "-q"], new Dictionary<string, string> { ["SHOAL_HOST"] = _cli.Host });
        var flagWins = await CliHarness.RunWithAsync(
            ["node", "ls", "-q", "--host", "unix:///nonexistent/shoal.sock"],
            new Dictionary<string, string> { ["SHOAL_HOST"] = _cli.Host });

        Assert.Equal((0, _cli.Api.Plane.ManagerId + "\n"), (fromVariable.ExitCode, fromVariable.Out));
        Assert.Equal(1, flagWins.ExitCode);
        Assert.StartsWith("cannot connect to the Shoal node at unix:///nonexistent/shoal.sock: no such socket", flagWins.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHostThatIsNoUnixSocket_IsRefused()
    {
        var run = await CliHarness.RunWithAsync(["-H", "tcp://10.0.0.1:2375", "node", "ls"]);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal("invalid host \"tcp://10.0.0.1:2375\": a Shoal node's local API is a unix socket, named unix:///path/to/shoal.sock\n", run.Error);
    }

    [Fact]
    public async Task MalformedFlags_AreRefusedBeforeTheNodeIsContacted()
    {
        // Nothing listens here: a request would fail with "cannot connect"; the flag error comes first.
        var host = "unix://" + Path.Combine(_cli.Api.Directory, "missing.sock");

        var run = await CliHarness.RunWithAsync(["-H", host, "node", "update", "--availability", "bogus", "worker-1"]);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal("invalid availability \"bogus\", only active, pause and drain are supported\nSee 'shoal node update --help'.\n", run.Error);
    }

    [Fact]
    public async Task EveryVerb_HasHelpThatExplainsIt()
    {
        string[][] verbs =
        [
            ["swarm", "init"], ["swarm", "join"], ["swarm", "join-token"], ["swarm", "leave"], ["swarm", "update"], ["swarm", "inspect"],
            ["node", "ls"], ["node", "inspect"], ["node", "update"], ["node", "promote"], ["node", "demote"], ["node", "rm"],
        ];

        foreach (var verb in verbs)
        {
            var run = await CliHarness.RunWithAsync([.. verb, "--help"]);

            Assert.Equal(0, run.ExitCode);
            Assert.StartsWith("Description:\n  ", run.Out, StringComparison.Ordinal);
            // The usage line starts with the executable's name: shoal, or the test host here.
            Assert.Matches($@"Usage:\n  \S+ {string.Join(' ', verb)} ", run.Out);
        }

        Assert.Contains("--availability <active|pause|drain>", (await CliHarness.RunWithAsync(["node", "update", "--help"])).Out, StringComparison.Ordinal);
        Assert.Contains("--token <token>", (await CliHarness.RunWithAsync(["swarm", "join", "--help"])).Out, StringComparison.Ordinal);
    }
}
