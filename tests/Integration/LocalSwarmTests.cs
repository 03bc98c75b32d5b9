using System.Diagnostics;
using Shoal.Bench;
using Shoal.DockerApi.Model;
using Shoal.TestKit;

namespace Shoal.Integration.Tests;

/// <summary>
/// What the tests on swarms of real <c>shoal agent</c> processes share: starting a swarm (heartbeat 1 s by default, the
/// shortest the cluster spec accepts) and taking it down with whatever task processes outlived their agents (their
/// shims hold them by design), every node's log in the output of a failed test, and the waits they use. Deadlines
/// are generous (correctness, not speed: the figures are in docs/BENCHMARKS.md); measured times go to the output.
/// </summary>
public abstract class LocalSwarmTests : IAsyncDisposable
{
    protected static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    protected static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);
    private readonly List<LocalSwarm> _swarms = [];
    private readonly List<IAsyncDisposable> _afterSwarms = [];

    protected static ITestOutputHelper? Output => TestContext.Current.TestOutputHelper;

    protected static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        foreach (var swarm in _swarms)
        {
            if (TestContext.Current.TestState?.Result is not TestResult.Passed)
            {
                Output?.WriteLine(swarm.Diagnostics(int.MaxValue));
            }

            // The agents first (they would restart what is killed under them), then what outlived them.
            await swarm.DisposeAsync();
            var killed = TaskProcesses.KillAll(swarm.Root);
            if (killed > 0)
            {
                Output?.WriteLine($"killed {killed} task processes left under {swarm.Root}");
            }

            try
            {
                Directory.Delete(swarm.Root, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        foreach (var resource in _afterSwarms)
        {
            await resource.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Disposes <paramref name="resource"/> (e.g. the network namespaces the nodes ran in) after the swarms.</summary>
    protected void DisposeAfterSwarms(IAsyncDisposable resource) => _afterSwarms.Add(resource);

    protected static Task<(int ExitCode, string Output, string Error)> DockerAsync(SwarmNodeProcess node, string config, params string[] arguments) =>
        DockerCli.RunAsync(node.ApiSocket, config, arguments, TimeSpan.FromSeconds(60), Cancellation);

    protected static async Task<List<SwarmTask>> WaitForRunningAsync(LocalSwarm swarm, SwarmNodeProcess manager, string id, int count, string what)
    {
        List<SwarmTask> last = [];
        await swarm.WaitForAsync(
            async ct => (last = await manager.Api.TasksAsync(id, TaskStates.Running, ct)).Count(t => t.Status.State == TaskStates.Running) == count,
            what,
            Deadline,
            TimeSpan.FromMilliseconds(100),
            () => "last seen: " + ServiceTasks.Describe(swarm, last),
            Cancellation);
        return [.. last.Where(t => t.Status.State == TaskStates.Running)];
    }

    protected static Task WaitForProcessesGoneAsync(LocalSwarm swarm, IReadOnlyList<TaskProcess> processes, string what) =>
        swarm.WaitForAsync(
            _ => Task.FromResult(!processes.Any(p => p.IsAlive())),
            what,
            Deadline,
            TimeSpan.FromMilliseconds(100),
            () => "still alive: " + string.Join(", ", processes.Where(p => p.IsAlive())),
            Cancellation);

    protected async Task<LocalSwarm> StartAsync(int managers, int workers, TimeSpan? heartbeat = null, LocalSwarmOptions? options = null)
    {
        var started = Stopwatch.GetTimestamp();
        var period = heartbeat ?? Heartbeat;
        var swarm = await LocalSwarm.StartAsync(managers, workers, period, (options ?? new LocalSwarmOptions()) with { KeepRoot = true }, Cancellation);
        _swarms.Add(swarm);
        var where = options?.Hosts is { } hosts ? $" on {hosts}" : string.Empty;
        Output?.WriteLine($"{managers} managers and {workers} workers READY in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms (heartbeat {period.TotalMilliseconds:0} ms){where}, under {swarm.Root}");
        return swarm;
    }
}
