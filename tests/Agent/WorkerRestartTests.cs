using Shoal.Api;
using Shoal.TestKit;

namespace Shoal.Agent.Tests;

/// <summary>An agent restart: a new worker on the same data directory and the same (fake) host.</summary>
public sealed class WorkerRestartTests : IDisposable
{
    private static readonly Service Web = Objects.Service();
    private readonly TempDataDirectory _data = new();
    private readonly FakeExecutor _host = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task ARestartedWorker_ReadoptsARunningTask_WithoutStartingItAgain_AndReportsHowItEnds()
    {
        var task = Assignments.Task(Web, 1);
        await using (var before = new WorkerUnderTest(_data.Path, _host))
        {
            await before.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
            await before.ReachesAsync(task, TaskState.Running);
        }

        await using var after = new WorkerUnderTest(_data.Path, _host);
        await after.Worker.StartAsync(Ct);

        // Reported again from the task database, before any assignment arrives.
        await after.ReachesAsync(task, TaskState.Running);
        Assert.Equal([TaskState.Running], after.Reports.StatesOf(task.Id));
        await after.Worker.ApplyAsync(Assignments.Complete("t.1", task), Ct);
        _host[task.Id].Exit(2);

        await after.ReachesAsync(task, TaskState.Failed);
        Assert.Equal(1, _host[task.Id].CountOf("Start"));
        Assert.Equal("task: non-zero exit (2)", after.Reports.Last(task.Id)!.Err);
        Assert.Equal([TaskState.Running, TaskState.Failed], after.Reports.StatesOf(task.Id));
    }

    [Fact]
    public async Task ATaskThatEndedWhileTheAgentWasDown_IsReportedWithItsExitCode()
    {
        var task = Assignments.Task(Web, 1);
        await using (var before = new WorkerUnderTest(_data.Path, _host))
        {
            await before.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
            await before.ReachesAsync(task, TaskState.Running);
        }

        _host[task.Id].Exit(0);
        await using var after = new WorkerUnderTest(_data.Path, _host);
        await after.Worker.ApplyAsync(Assignments.Complete("t.1", task), Ct);

        await after.ReachesAsync(task, TaskState.Complete);
        Assert.Equal(1, _host[task.Id].CountOf("Start"));
    }

    [Fact]
    public async Task ALostTask_Fails_AndAFinishedTaskIsNeverRunAgain()
    {
        var (lost, done) = (Assignments.Task(Web, 1), Assignments.Task(Web, 2));
        await using (var before = new WorkerUnderTest(_data.Path, _host))
        {
            await before.Worker.ApplyAsync(Assignments.Complete("s.1", lost, done), Ct);
            await before.ReachesAsync(lost, TaskState.Running);
            await before.ReachesAsync(done, TaskState.Running);
            _host[done.Id].Exit(0);
            await before.ReachesAsync(done, TaskState.Complete);
        }

        _host[lost.Id].Lost = true;
        await using var after = new WorkerUnderTest(_data.Path, _host);
        await after.Worker.ApplyAsync(Assignments.Complete("t.1", lost, done), Ct);

        await after.ReachesAsync(lost, TaskState.Failed);
        Assert.Equal("the fake process is lost", after.Reports.Last(lost.Id)!.Err);
        Assert.Equal(TaskState.Complete, after.StateOf(done.Id));
        Assert.Equal(["Prepare", "Start"], _host[done.Id].Calls);
    }

    [Fact]
    public async Task ATaskRecordedButAbsentFromTheFirstCompleteSet_IsStoppedAndRemoved()
    {
        var (gone, kept) = (Assignments.Task(Web, 1), Assignments.Task(Web, 2));
        await using (var before = new WorkerUnderTest(_data.Path, _host))
        {
            await before.Worker.ApplyAsync(Assignments.Complete("s.1", gone, kept), Ct);
            await before.ReachesAsync(gone, TaskState.Running);
            await before.ReachesAsync(kept, TaskState.Running);
        }

        await using var after = new WorkerUnderTest(_data.Path, _host);
        await after.Worker.ApplyAsync(Assignments.Complete("t.1", kept), Ct);
        await after.Worker.WhenRemovedAsync(Ct);

        Assert.True(_host[gone.Id].Removed);
        Assert.Equal([kept.Id], after.Worker.Tasks.Keys);
        Assert.Equal([kept.Id], new TaskDb(Path.Combine(_data.Path, "worker")).Load().Select(t => t.Id));
        Assert.Equal(1, _host[kept.Id].CountOf("Start"));
    }

    [Fact]
    public async Task AnUnreadableRecord_IsSetAside_AndTheOthersLoad()
    {
        var task = Assignments.Task(Web, 1);
        var db = new TaskDb(Path.Combine(_data.Path, "worker"));
        var recorded = task.Clone();
        recorded.Status = new SwarmTaskStatus { State = TaskState.Ready, Message = "prepared" };
        db.Save(recorded);
        var broken = Path.Combine(_data.Path, "worker", "tasks", "broken.task");
        await File.WriteAllBytesAsync(broken, [0xff, 0xff, 0xff], Ct);

        var loaded = db.Load();

        Assert.Equal([task.Id], loaded.Select(t => t.Id));
        Assert.Equal(TaskState.Ready, loaded[0].Status.State);
        Assert.True(File.Exists(broken + ".corrupt"));
    }
}
