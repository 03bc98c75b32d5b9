using System.Runtime.Versioning;
using Google.Protobuf.WellKnownTypes;
using Shoal.Agent.Executors.Process;
using Shoal.Api;
using Shoal.TestKit;

namespace Shoal.Agent.Tests.Health;

/// <summary>Health checks run by the process executor for real processes, through a real worker and task manager.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class TaskHealthTests : IDisposable
{
    private static readonly Service Web = Objects.Service("web");
    private readonly TempDataDirectory _data = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task APassingShellCheck_MakesTheTaskRunning_OnlyOnceItPassed_AndEarlyFailuresInTheStartPeriodDoNotCount()
    {
        await using var node = Node();
        // One failure would do (retries 1), but the start period forgives them until the first pass.
        var task = Task(Shell("echo check >> checks; test -e ready || { echo not ready yet; exit 1; }"), retries: 1, startPeriod: TimeSpan.FromMinutes(5));

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Starting);
        await Eventually.TrueAsync(() => CountLines(task, "checks") >= 3, "three checks failed");
        Assert.Equal(TaskState.Starting, node.Reports.Last(task.Id)!.State);
        Assert.Equal("starting", node.Reports.Last(task.Id)!.Message);
        var pid = Pid(task);
        Assert.True(pid > 1 && Directory.Exists($"/proc/{pid}"), "the task's process runs while it is starting");

        await File.WriteAllTextAsync(InTaskDirectory(task, "ready"), string.Empty, Ct);

        await node.ReachesAsync(task, TaskState.Running);
        var running = node.Reports.Last(task.Id)!;
        Assert.Equal(("started", pid), (running.Message, running.Container.Pid));
        Assert.Equal([TaskState.Starting, TaskState.Running], node.Reports.StatesOf(task.Id).TakeLast(2));
    }

    [Fact]
    public async Task ACheckFailingRetriesTimes_StopsTheTask_AndFailsItWithDockersError_AndTheCheckOutputAsItsMessage()
    {
        await using var node = Node();
        var task = Task(Shell("echo check >> checks; echo 'connection refused'; exit 1"), retries: 3);

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Failed);
        var status = node.Reports.Last(task.Id)!;
        Assert.Equal("task: non-zero exit (143): dockerexec: unhealthy container", status.Err);
        Assert.Equal("unhealthy: connection refused", status.Message);
        Assert.Equal(143, status.Container.ExitCode);
        Assert.DoesNotContain(TaskState.Running, node.Reports.StatesOf(task.Id));
        Assert.Equal(3, CountLines(task, "checks"));
        Assert.False(Directory.Exists($"/proc/{status.Container.Pid}") && !IsZombie(status.Container.Pid), "the unhealthy task's process was stopped");
    }

    [Fact]
    public async Task ACheckThatTimesOut_CountsAsAFailure_AndIsKilledWithWhatItStarted()
    {
        await using var node = Node();
        var task = Task(Shell("sleep 1000 & echo $! >> sleepers; wait"), retries: 2, timeout: TimeSpan.FromMilliseconds(200));

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Failed);
        var status = node.Reports.Last(task.Id)!;
        Assert.Equal("unhealthy: Health check exceeded timeout (200ms)", status.Message);
        Assert.EndsWith(": dockerexec: unhealthy container", status.Err, StringComparison.Ordinal);
        var sleepers = (await File.ReadAllLinesAsync(InTaskDirectory(task, "sleepers"), Ct)).Select(int.Parse).ToList();
        Assert.Equal(2, sleepers.Count);
        await Eventually.TrueAsync(() => sleepers.All(p => !Directory.Exists($"/proc/{p}") || IsZombie(p)), "every process a timed-out check started is killed");
    }

    [Fact]
    public async Task TheCheck_RunsWithTheTasksEnvironment_WorkingDirectory_AndAsAProgramWithCmd()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_data.Path, "work")).FullName;
        await using var node = Node();
        var task = Task(["CMD", "sh", "-c", "echo \"$FOO|$(pwd)|$SHOAL_TASK_ID|$BASH_ENV\" > seen; [ \"$FOO\" = 'bar baz' ]"]);
        task.Spec.Container.Env.Add(["FOO=bar baz", "BASH_ENV=/nonexistent"]);
        task.Spec.Container.Dir = dir;

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Running);
        Assert.Equal($"bar baz|{dir}|{task.Id}|/nonexistent", (await File.ReadAllTextAsync(Path.Combine(dir, "seen"), Ct)).Trim());
    }

    [Fact]
    public async Task TheCheck_RunsAsTheTasksUser()
    {
        Assert.SkipUnless(Native.IsRoot, "switching users needs root (the agent refuses a service's user otherwise)");
        await using var node = Node();
        var task = Task(Shell("id -u; [ \"$(id -u)\" = 65534 ]"), retries: 1);
        task.Spec.Container.User = "65534";

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Running);
        // Passing at all proves the user (one failure would have failed the task); the check's output says it too.
        // (Each check rewrites the file: read it until a check has written it whole.)
        await Eventually.TrueAsync(() => File.ReadAllText(InTaskDirectory(task, ProcessController.HealthOutputFile)).Trim() == "65534", "the check printed uid 65534");
    }

    [Fact]
    public async Task ACheckProgramThatDoesNotExist_FailsTheCheck_WithGosWording()
    {
        await using var node = Node();
        var task = Task(["CMD", "no-such-check", "--quick"], retries: 1);

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Failed);
        Assert.Equal("unhealthy: exec: \"no-such-check\": executable file not found in $PATH", node.Reports.Last(task.Id)!.Message);
    }

    [Fact]
    public async Task NoneOrNoTest_RunsNoCheck_AndTheTaskIsRunningAtOnce()
    {
        await using var node = Node();
        var none = Task(["NONE"]);
        var empty = Task([], slot: 2);

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", none, empty), Ct);

        await node.ReachesAsync(none, TaskState.Running);
        await node.ReachesAsync(empty, TaskState.Running);
        Assert.False(File.Exists(InTaskDirectory(none, ProcessController.HealthOutputFile)), "no check ran");
        Assert.False(File.Exists(InTaskDirectory(empty, ProcessController.HealthOutputFile)), "no check ran");
    }

    [Fact]
    public async Task AHealthyTaskThatTurnsUnhealthy_IsStoppedAndFailed()
    {
        await using var node = Node();
        var task = Task(Shell("if [ -e sick ]; then echo 'disk full'; exit 1; fi"), retries: 2);
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Running);

        await File.WriteAllTextAsync(InTaskDirectory(task, "sick"), string.Empty, Ct);

        await node.ReachesAsync(task, TaskState.Failed);
        var status = node.Reports.Last(task.Id)!;
        Assert.Equal("task: non-zero exit (143): dockerexec: unhealthy container", status.Err);
        Assert.Equal("unhealthy: disk full", status.Message);
    }

    [Fact]
    public async Task ATaskThatIgnoresItsStopSignal_IsKilledAfterItsGracePeriod_WhenUnhealthy()
    {
        await using var node = Node();
        // Healthy until the program has set its trap; then unhealthy at the first failure.
        var task = Task(Shell("if [ -e trapped ]; then exit 1; fi"), retries: 1, command: ["/bin/sh", "-c", "trap '' TERM; touch trapped; while :; do sleep 0.05; done"]);
        task.Spec.Container.StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(300));

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Failed);
        Assert.Equal("task: non-zero exit (137): dockerexec: unhealthy container", node.Reports.Last(task.Id)!.Err);
    }

    [Fact]
    public async Task ATaskExitingWhileStarting_EndsWithItsExitCode_AndDesiredShutdownStopsAStartingTask()
    {
        await using var node = Node();
        var exits = Task(Shell("exit 1"), startPeriod: TimeSpan.FromMinutes(5), command: ["/bin/sh", "-c", "while [ ! -e go ]; do sleep 0.05; done; exit 5"]);
        var stopped = Task(Shell("exit 1"), startPeriod: TimeSpan.FromMinutes(5), slot: 2);
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", exits, stopped), Ct);
        await node.ReachesAsync(exits, TaskState.Starting);
        await node.ReachesAsync(stopped, TaskState.Starting);
        await Eventually.TrueAsync(() => Pid(exits) > 0 && Pid(stopped) > 0, "both tasks' processes started");

        await File.WriteAllTextAsync(InTaskDirectory(exits, "go"), string.Empty, Ct);
        await node.Worker.ApplyAsync(Assignments.Increment("s.1", "s.2", (Assignments.WithDesired(stopped, TaskState.Shutdown), AssignmentAction.Update)), Ct);

        await node.ReachesAsync(exits, TaskState.Failed);
        await node.ReachesAsync(stopped, TaskState.Shutdown);
        Assert.Equal("task: non-zero exit (5)", node.Reports.Last(exits.Id)!.Err);
        Assert.Equal(143, node.Reports.Last(stopped.Id)!.Container.ExitCode);
    }

    [Fact]
    public async Task AfterAnAgentRestart_ChecksResume_ForAStartingTask_AndForARunningOne()
    {
        var starting = Task(Shell("test -e ready"), startPeriod: TimeSpan.FromMinutes(5));
        var running = Task(Shell("if [ -e sick ]; then echo 'gone bad'; exit 1; fi"), retries: 1, slot: 2);
        int startingPid;
        int runningPid;
        await using (var crashed = Node())
        {
            await crashed.Worker.ApplyAsync(Assignments.Complete("s.1", starting, running), Ct);
            await crashed.ReachesAsync(running, TaskState.Running);
            await crashed.ReachesAsync(starting, TaskState.Starting);
            await Eventually.TrueAsync(() => Pid(starting) > 0, "the starting task's process runs");
            (startingPid, runningPid) = (Pid(starting), Pid(running));
        }

        await using var restarted = Node();
        await restarted.Worker.ApplyAsync(Assignments.Complete("t.1", starting, running), Ct);
        await restarted.ReachesAsync(starting, TaskState.Starting);
        await restarted.ReachesAsync(running, TaskState.Running);

        await File.WriteAllTextAsync(InTaskDirectory(starting, "ready"), string.Empty, Ct);
        await File.WriteAllTextAsync(InTaskDirectory(running, "sick"), string.Empty, Ct);

        await restarted.ReachesAsync(starting, TaskState.Running);
        await restarted.ReachesAsync(running, TaskState.Failed);
        Assert.Equal(startingPid, restarted.Reports.Last(starting.Id)!.Container.Pid);
        Assert.Equal(runningPid, restarted.Reports.Last(running.Id)!.Container.Pid);
        Assert.Equal("unhealthy: gone bad", restarted.Reports.Last(running.Id)!.Message);
        Assert.Equal("task: non-zero exit (143): dockerexec: unhealthy container", restarted.Reports.Last(running.Id)!.Err);
    }

    [Fact]
    public async Task ARuntimeThatCannotRunChecks_RejectsATaskWithOne()
    {
        var executor = new FakeExecutor();
        await using var node = new WorkerUnderTest(_data.Path, executor);
        var task = Task(Shell("true"));

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Rejected);
        Assert.StartsWith("the fake runtime cannot run health checks", node.Reports.Last(task.Id)!.Err, StringComparison.Ordinal);
        Assert.Empty(executor[task.Id].Calls);
    }

    private WorkerUnderTest Node() =>
        new(_data.Path, new ProcessExecutor(new ProcessExecutorOptions { DataDirectory = _data.Path, PollInterval = TimeSpan.FromMilliseconds(20) }));

    private static string[] Shell(string command) => ["CMD-SHELL", command];

    /// <summary>A task running <paramref name="command"/> (default: a long sleep) with a fast health check.</summary>
    private static SwarmTask Task(string[] test, int retries = 3, TimeSpan? timeout = null, TimeSpan? startPeriod = null, string[]? command = null, long slot = 1)
    {
        var task = Assignments.Task(Web, slot);
        task.Spec.Container.Command.Clear();
        task.Spec.Container.Args.Clear();
        task.Spec.Container.Command.Add(command ?? ["sleep", "1000"]);
        var health = new HealthConfig
        {
            Interval = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(100)),
            Timeout = Duration.FromTimeSpan(timeout ?? TimeSpan.FromSeconds(5)),
            Retries = retries,
            StartInterval = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(100)),
        };
        if (startPeriod is { } period)
        {
            health.StartPeriod = Duration.FromTimeSpan(period);
        }

        health.Test.Add(test);
        task.Spec.Container.Healthcheck = health;
        return task;
    }

    private string InTaskDirectory(SwarmTask task, string file) => Path.Combine(_data.Path, "tasks", task.Id, file);

    private int CountLines(SwarmTask task, string file) => File.Exists(InTaskDirectory(task, file)) ? File.ReadAllLines(InTaskDirectory(task, file)).Length : 0;

    private int Pid(SwarmTask task) =>
        File.Exists(InTaskDirectory(task, "pid")) && int.TryParse(File.ReadAllText(InTaskDirectory(task, "pid")).Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture, out var pid) ? pid : 0;

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }
}
