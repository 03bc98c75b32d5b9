using System.Runtime.Versioning;
using Shoal.Agent.Executors;
using Shoal.Agent.Executors.Process;
using Shoal.Api;
using Shoal.Manager.Tests.Dispatching;
using Shoal.TestKit;

namespace Shoal.Agent.Tests;

/// <summary>The worker wired as the node wires it: a real dispatcher, an agent session, the process executor.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class WorkerSessionTests : IDisposable
{
    private readonly TempDataDirectory _data = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task ATaskAssignedInTheStore_RunsAsAProcess_ItsStatusReachesTheStore_AndItStopsWhenTheManagersSaySo()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var credentials = harness.Issue();
        var service = Objects.Service("web");
        var task = Objects.Task(service, 1, credentials.NodeId, TaskState.Assigned);
        task.Spec.Container.Args.Clear();
        task.Spec.Container.Args.Add(["sleep", "1000"]);
        await harness.Store.UpdateAsync(tx =>
        {
            tx.Create(service);
            tx.Create(task);
        }, Ct);

        var executor = new ProcessExecutor(new ProcessExecutorOptions { DataDirectory = _data.Path, PollInterval = TimeSpan.FromMilliseconds(20) });
        AgentSession? session = null;
        await using var worker = new Worker(new WorkerOptions { DataDirectory = _data.Path }, executor, (updates, ct) => session!.ReportStatusAsync(updates, ct), loggerFactory: TestLog.Factory);
        session = harness.Agent(credentials, worker, descriptions: new ExecutorDescriptionProvider(executor));
        await worker.StartAsync(Ct);
        await using var agent = new RunningAgent(session);

        await Eventually.TrueAsync(() => StoredState(harness, task.Id) == TaskState.Running, "the store shows the task RUNNING", TimeSpan.FromSeconds(20));
        var running = harness.Store.View().Tasks.Get(task.Id)!.Status;
        Assert.True(running.Container.Pid > 1 && Directory.Exists($"/proc/{running.Container.Pid}"), "the reported pid is the running process");
        Assert.Equal("process", harness.Node(credentials.NodeId)!.Description.Engine.Labels["shoal.executor"]);

        await harness.Store.UpdateAsync(tx =>
        {
            var stop = tx.Tasks.Get(task.Id)!.Clone();
            stop.DesiredState = TaskState.Shutdown;
            tx.Update(stop);
        }, Ct);

        await Eventually.TrueAsync(() => StoredState(harness, task.Id) == TaskState.Shutdown, "the store shows the task SHUTDOWN", TimeSpan.FromSeconds(20));
        Assert.Equal(143, harness.Store.View().Tasks.Get(task.Id)!.Status.Container.ExitCode);
    }

    private static TaskState? StoredState(DispatcherHarness harness, string taskId) => harness.Store.View().Tasks.Get(taskId)?.Status.State;
}
