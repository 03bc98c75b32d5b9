using Google.Protobuf.WellKnownTypes;
using Shoal.Api;
using Shoal.TestKit;

namespace Shoal.Agent.Tests;

/// <summary>The worker's reconciliation against a fake runtime.</summary>
public sealed class WorkerTests : IDisposable
{
    private static readonly Service Web = Objects.Service();
    private readonly TempDataDirectory _data = new();
    private readonly FakeExecutor _executor = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task ACompleteSet_RunsEachTask_ThroughEveryStateInOrder()
    {
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var (a, b) = (Assignments.Task(Web, 1), Assignments.Task(Web, 2));

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", a, b), Ct);

        await node.ReachesAsync(a, TaskState.Running);
        await node.ReachesAsync(b, TaskState.Running);
        foreach (var task in new[] { a, b })
        {
            var states = node.Reports.StatesOf(task.Id);
            Assert.Equal(states.Order(), states);
            Assert.Equal(states.Count, states.Distinct().Count());
            var running = node.Reports.Last(task.Id)!;
            Assert.Equal("started", running.Message);
            Assert.Equal(task.Id, running.Container.ContainerId);
            Assert.Equal(_executor[task.Id].Pid, running.Container.Pid);
            Assert.NotNull(running.Timestamp);
            Assert.Equal(["Prepare", "Start"], _executor[task.Id].Calls);
        }

        Assert.Equal("s.1", node.Worker.Version);
    }

    [Fact]
    public async Task Increments_AddAndRemoveTasks_AndAnIncrementForAnotherSetIsRefused()
    {
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var (a, b) = (Assignments.Task(Web, 1), Assignments.Task(Web, 2));
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", a), Ct);
        await node.ReachesAsync(a, TaskState.Running);

        await node.Worker.ApplyAsync(Assignments.Increment("s.1", "s.2", (b, AssignmentAction.Update), (a, AssignmentAction.Remove)), Ct);
        await node.ReachesAsync(b, TaskState.Running);
        await node.Worker.WhenRemovedAsync(Ct);

        Assert.Equal([b.Id], node.Worker.Tasks.Keys);
        Assert.Equal(["Prepare", "Start", "Shutdown", "Remove"], _executor[a.Id].Calls);
        Assert.True(_executor[a.Id].Removed);
        Assert.DoesNotContain(new TaskDb(Path.Combine(_data.Path, "worker")).Load(), t => t.Id == a.Id);

        var stale = Assignments.Increment("s.1", "s.3", (a, AssignmentAction.Update));
        var error = await Assert.ThrowsAsync<AssignmentSetMismatchException>(() => node.Worker.ApplyAsync(stale, Ct).AsTask());
        Assert.Equal(("s.1", "s.2"), (error.AppliesTo, error.Current));
        Assert.Equal([b.Id], node.Worker.Tasks.Keys);
        Assert.Equal("s.2", node.Worker.Version);
    }

    [Fact]
    public async Task ATaskAbsentFromANewCompleteSet_IsStoppedAndRemoved_AndTheOthersKeepRunning()
    {
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var (a, b) = (Assignments.Task(Web, 1), Assignments.Task(Web, 2));
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", a, b), Ct);
        await node.ReachesAsync(a, TaskState.Running);
        await node.ReachesAsync(b, TaskState.Running);

        await node.Worker.ApplyAsync(Assignments.Complete("t.1", b), Ct);
        await node.Worker.WhenRemovedAsync(Ct);

        Assert.True(_executor[a.Id].Removed);
        Assert.Contains("Shutdown", _executor[a.Id].Calls);
        Assert.Equal(["Prepare", "Start"], _executor[b.Id].Calls);
        Assert.Equal([b.Id], node.Worker.Tasks.Keys);
    }

    [Fact]
    public async Task LeavingTheSwarm_RemovesEveryTask()
    {
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var (a, b) = (Assignments.Task(Web, 1), Assignments.Task(Web, 2, TaskState.Ready));
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", a, b), Ct);
        await node.ReachesAsync(a, TaskState.Running);
        await node.ReachesAsync(b, TaskState.Ready);

        await node.Worker.RemoveAllAsync(Ct);

        Assert.Empty(node.Worker.Tasks);
        Assert.True(_executor[a.Id].Removed && _executor[b.Id].Removed, "both tasks removed from the runtime");
        Assert.Empty(new TaskDb(Path.Combine(_data.Path, "worker")).Load());
        Assert.Equal(string.Empty, node.Worker.Version);
    }

    [Fact]
    public async Task DesiredReady_PreparesWithoutStarting_ThenDesiredRunningStartsIt()
    {
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var task = Assignments.Task(Web, 1, TaskState.Ready);
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Ready);
        Assert.Equal(["Prepare"], _executor[task.Id].Calls);
        Assert.Equal("prepared", node.Reports.Last(task.Id)!.Message);

        await node.Worker.ApplyAsync(Assignments.Increment("s.1", "s.2", (Assignments.WithDesired(task, TaskState.Running), AssignmentAction.Update)), Ct);

        await node.ReachesAsync(task, TaskState.Running);
        Assert.Equal(["Prepare", "Start"], _executor[task.Id].Calls);
    }

    [Fact]
    public async Task DesiredShutdown_StopsTheTask_AndReportsShutdownWithItsExitCode()
    {
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var task = Assignments.Task(Web, 1);
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Running);

        await node.Worker.ApplyAsync(Assignments.Increment("s.1", "s.2", (Assignments.WithDesired(task, TaskState.Shutdown), AssignmentAction.Update)), Ct);

        await node.ReachesAsync(task, TaskState.Shutdown);
        var status = node.Reports.Last(task.Id)!;
        Assert.Equal("shutdown", status.Message);
        Assert.Equal(143, status.Container.ExitCode);
        Assert.Equal(["Prepare", "Start", "Shutdown"], _executor[task.Id].Calls);
        Assert.Contains(task.Id, node.Worker.Tasks.Keys);
    }

    [Fact]
    public async Task ATaskIgnoringItsStopSignal_IsKilledAfterItsGracePeriod()
    {
        _executor.Configure = p => p.IgnoresStopSignal = true;
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var task = Assignments.Task(Web, 1);
        task.Spec.Container.StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(50));
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Running);

        var stop = Assignments.WithDesired(task, TaskState.Remove);
        await node.Worker.ApplyAsync(Assignments.Increment("s.1", "s.2", (stop, AssignmentAction.Update)), Ct);

        await node.ReachesAsync(task, TaskState.Shutdown);
        Assert.Equal(["Prepare", "Start", "Shutdown", "Terminate"], _executor[task.Id].Calls);
        Assert.Equal(137, node.Reports.Last(task.Id)!.Container.ExitCode);
    }

    [Fact]
    public async Task ATaskNeverStarted_GoesStraightToShutdown_WhenStopped()
    {
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var task = Assignments.Task(Web, 1, TaskState.Ready);
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Ready);

        await node.Worker.ApplyAsync(Assignments.Increment("s.1", "s.2", (Assignments.WithDesired(task, TaskState.Shutdown), AssignmentAction.Update)), Ct);

        await node.ReachesAsync(task, TaskState.Shutdown);
        Assert.Equal(["Prepare"], _executor[task.Id].Calls);
    }

    [Fact]
    public async Task ExitCodes_MakeTasksCompleteOrFailed_WithDockersError()
    {
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var (ok, bad) = (Assignments.Task(Web, 1), Assignments.Task(Web, 2));
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", ok, bad), Ct);
        await node.ReachesAsync(ok, TaskState.Running);
        await node.ReachesAsync(bad, TaskState.Running);

        _executor[ok.Id].Exit(0);
        _executor[bad.Id].Exit(1);

        await node.ReachesAsync(ok, TaskState.Complete);
        await node.ReachesAsync(bad, TaskState.Failed);
        Assert.Equal(("finished", ""), (node.Reports.Last(ok.Id)!.Message, node.Reports.Last(ok.Id)!.Err));
        Assert.Equal("task: non-zero exit (1)", node.Reports.Last(bad.Id)!.Err);
        Assert.Equal(1, node.Reports.Last(bad.Id)!.Container.ExitCode);
    }

    [Fact]
    public async Task APrepareFailure_OrAnUnsupportedRuntime_RejectsTheTaskWithTheReason()
    {
        _executor.Configure = p => p.PrepareError = "dir \"/nope\" does not exist on this node";
        var plugin = Assignments.Task(Web, 2);
        plugin.Spec.Plugin = new PluginSpec { Name = "x" };
        _executor.Rejects = t => t.Spec.RuntimeCase == TaskSpec.RuntimeOneofCase.Plugin ? "unsupported runtime \"plugin\"" : null;
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var task = Assignments.Task(Web, 1);

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task, plugin), Ct);

        await node.ReachesAsync(task, TaskState.Rejected);
        await node.ReachesAsync(plugin, TaskState.Rejected);
        Assert.Equal("dir \"/nope\" does not exist on this node", node.Reports.Last(task.Id)!.Err);
        Assert.Equal("unsupported runtime \"plugin\"", node.Reports.Last(plugin.Id)!.Err);
        Assert.DoesNotContain("Start", _executor[task.Id].Calls);
    }

    [Fact]
    public async Task StatesNeverMoveBack_WhenTheManagersSendAnOlderStatus()
    {
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var task = Assignments.Task(Web, 1);
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Running);
        var reported = node.Reports.StatesOf(task.Id).Count;

        // A reconnection: the store had only applied ASSIGNED so far.
        await node.Worker.ApplyAsync(Assignments.Complete("t.1", task), Ct);
        _executor[task.Id].Exit(0);

        await node.ReachesAsync(task, TaskState.Complete);
        var states = node.Reports.StatesOf(task.Id);
        Assert.Equal([TaskState.Running, TaskState.Complete], states.Skip(reported - 1));
        Assert.Equal(1, _executor[task.Id].CountOf("Start"));
    }

    [Fact]
    public async Task Reports_AreBatched_WhileASendIsInFlight_KeepingTheFurthestStatePerTask()
    {
        var reports = new ReportLog { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var node = new WorkerUnderTest(_data.Path, _executor, reports);
        var tasks = Enumerable.Range(1, 5).Select(i => Assignments.Task(Web, i)).ToArray();

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", tasks), Ct);
        // The first send is held: the tasks still reach RUNNING (the worker never waits for its reports).
        await Eventually.TrueAsync(() => tasks.All(t => node.StateOf(t.Id) == TaskState.Running), "every task running while the first report is held");
        reports.Gate.SetResult();

        foreach (var task in tasks)
        {
            await node.ReachesAsync(task, TaskState.Running);
        }

        var batches = reports.Batches;
        Assert.True(batches.Count <= 3, $"expected the updates of 5 tasks x 5 states in a few batches, got {batches.Count}");
        Assert.All(batches, b => Assert.Equal(b.Count, b.Select(u => u.TaskId).Distinct().Count()));
    }

    [Fact]
    public async Task TaskDbRecords_ArePrivate_AndHoldTheLastReportedStatus()
    {
        await using var node = new WorkerUnderTest(_data.Path, _executor);
        var task = Assignments.Task(Web, 1);
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Running);

        var record = Assert.Single(new TaskDb(Path.Combine(_data.Path, "worker")).Load());
        Assert.Equal(TaskState.Running, record.Status.State);
        Assert.Equal(task.Spec, record.Spec);
        var file = Assert.Single(Directory.GetFiles(Path.Combine(_data.Path, "worker", "tasks")));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
    }
}
