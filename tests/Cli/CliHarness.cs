using Shoal.DockerApi;
using Shoal.DockerApi.Tests;

namespace Shoal.Cli.Tests;

/// <summary>What one run of the CLI did: its exit code and what it wrote.</summary>
internal sealed record CliRun(int ExitCode, string Out, string Error);

/// <summary>
/// The shoal CLI under test, run in-process: the real Docker API server on a unix socket (behind a proxy that records
/// the requests the CLI sends), the real control API on a real mutual-TLS cluster port behind it, and a fake at the
/// node boundary.
/// </summary>
internal sealed class CliHarness : IAsyncDisposable
{
    private readonly DockerApiServer? _ownServer;

    private CliHarness(DockerApiHost api, DockerApiServer? ownServer, RecordingProxy proxy)
    {
        Api = api;
        _ownServer = ownServer;
        Proxy = proxy;
    }

    /// <summary>The Docker API host: its control plane (to seed nodes) and its fake node (init/join/leave calls).</summary>
    public DockerApiHost Api { get; }

    /// <summary>The requests the CLI sent.</summary>
    public RecordingProxy Proxy { get; }

    /// <summary>The <c>--host</c> the CLI is given.</summary>
    public string Host => "unix://" + Proxy.SocketPath;

    /// <summary>
    /// Starts everything; with <paramref name="node"/>, the CLI talks to a Docker API server over that node boundary
    /// instead of the host's own (the host's control plane and fake node stay reachable through <see cref="Api"/>).
    /// </summary>
    public static async Task<CliHarness> StartAsync(Func<DockerApiHost, ISwarmNode>? node = null)
    {
        var api = await DockerApiHost.StartAsync();
        DockerApiServer? ownServer = null;
        if (node is not null)
        {
            ownServer = await DockerApiServer.StartAsync(Path.Combine(api.Directory, "node.sock"), node(api));
        }

        var proxy = RecordingProxy.Start(Path.Combine(api.Directory, "cli.sock"), ownServer?.SocketPath ?? api.SocketPath);
        return new CliHarness(api, ownServer, proxy);
    }

    /// <summary>Runs <c>shoal -H &lt;host&gt; args…</c>.</summary>
    public Task<CliRun> RunAsync(params string[] args) => RunWithAsync(["-H", Host, .. args]);

    /// <summary>Runs <c>shoal args…</c> with <paramref name="variables"/> as the environment.</summary>
    public static async Task<CliRun> RunWithAsync(string[] args, IReadOnlyDictionary<string, string>? variables = null)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var environment = new CliEnvironment
        {
            Out = output,
            Error = error,
            Variable = name => variables is not null && variables.TryGetValue(name, out var value) ? value : null,
        };
        var exitCode = await ShoalCli.RunAsync(args, environment, TestContext.Current.CancellationToken);
        return new CliRun(exitCode, output.ToString(), error.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        if (_ownServer is not null)
        {
            await _ownServer.DisposeAsync();
        }

        await Api.DisposeAsync();
    }
}
