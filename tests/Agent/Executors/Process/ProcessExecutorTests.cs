using System.Runtime.Versioning;
using Google.Protobuf.WellKnownTypes;
using Shoal.Agent.Executors;
using Shoal.Agent.Executors.Process;
using Shoal.Agent.Tests;
using Shoal.Api;
using Shoal.TestKit;

namespace Shoal.Agent.Tests.Executors.Process;

/// <summary>The process executor with real processes, through a real worker.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class ProcessExecutorTests : IDisposable
{
    private const string LogLine = @"^\d{10}\.\d{6} ";
    private static readonly Service Web = Objects.Service("web");
    private readonly TempDataDirectory _data = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task AFailingCommand_FailsWithItsExitCode_AndItsOutputIsLoggedLineByLineWithTimestamps()
    {
        await using var node = Node();
        var task = Task(command: ["/bin/sh", "-c"], args: ["echo hi; echo 'two  spaces '; echo oops >&2; printf last; exit 3"]);

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Failed);
        var status = node.Reports.Last(task.Id)!;
        Assert.Equal("task: non-zero exit (3)", status.Err);
        Assert.Equal(3, status.Container.ExitCode);
        Assert.True(status.Container.Pid > 1);
        var stdout = await File.ReadAllLinesAsync(LogOf(task, "stdout.log"), Ct);
        Assert.Equal(3, stdout.Length);
        Assert.All(stdout, line => Assert.Matches(LogLine, line));
        Assert.Equal(["hi", "two  spaces ", "last"], stdout.Select(l => l[(l.IndexOf(' ', StringComparison.Ordinal) + 1)..]));
        var stderr = Assert.Single(await File.ReadAllLinesAsync(LogOf(task, "stderr.log"), Ct));
        Assert.Matches(LogLine + "oops$", stderr);
        var seconds = double.Parse(stdout[0].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(seconds, DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
    }

    [Fact]
    public async Task TheProgram_RunsInItsOwnProcessGroup_OutsideTheAgentsSession_WithNoSignalIgnored()
    {
        await using var node = Node();
        var task = Task(command: ["/bin/sh", "-c", "read -r s < /proc/$$/stat; echo \"$$ $s\"; grep SigIgn /proc/$$/status"]);

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Complete);
        var lines = Lines(task, "stdout.log");
        var stat = lines[0].Split(' ');
        var (pid, pgrp, session) = (stat[0], stat[5], stat[6]);
        Assert.Equal(pid, pgrp);
        Assert.NotEqual(pgrp, session);
        Assert.NotEqual(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), session);
        Assert.Equal(node.Reports.Last(task.Id)!.Container.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), pid);
        // SIGPIPE and every other standard signal (1-31) at its default: posix_spawn reset what .NET ignores. (glibc's
        // internal real-time signals 32 and 33 may still show as ignored; they are harmless.)
        var ignored = Convert.ToUInt64(lines[1].Split('\t', ' ')[^1], 16);
        Assert.Equal(0UL, ignored & 0x7fff_ffffUL);
    }

    [Fact]
    public async Task ALongSleep_StoppedWithSigterm_EndsShutdown()
    {
        await using var node = Node();
        var task = Task(args: ["sleep", "1000"]);
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Running);
        var pid = node.Reports.Last(task.Id)!.Container.Pid;
        Assert.True(Directory.Exists($"/proc/{pid}"), $"the task's process {pid} runs");

        await node.Worker.ApplyAsync(Assignments.Increment("s.1", "s.2", (Assignments.WithDesired(task, TaskState.Shutdown), AssignmentAction.Update)), Ct);

        await node.ReachesAsync(task, TaskState.Shutdown);
        Assert.Equal(128 + 15, node.Reports.Last(task.Id)!.Container.ExitCode);
    }

    [Fact]
    public async Task AProcessIgnoringItsStopSignal_IsKilledAfterTheGracePeriod()
    {
        await using var node = Node();
        var task = Task(command: ["/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"]);
        task.Spec.Container.StopGracePeriod = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(300));
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Running);
        await Eventually.TrueAsync(() => LogHas(task, "stdout.log", "ready"), "the task ignores TERM");

        await node.Worker.ApplyAsync(Assignments.Increment("s.1", "s.2", (Assignments.WithDesired(task, TaskState.Shutdown), AssignmentAction.Update)), Ct);

        await node.ReachesAsync(task, TaskState.Shutdown);
        Assert.Equal(128 + 9, node.Reports.Last(task.Id)!.Container.ExitCode);
    }

    [Fact]
    public async Task TheEnvironmentAndWorkingDirectory_AreApplied_AndTheTaskDirectoryIsTheDefault()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_data.Path, "work")).FullName;
        await using var node = Node();
        var script = "echo \"$FOO|$SHOAL_TASK_ID|$SHOAL_TASK_SLOT|$SHOAL_SERVICE_NAME|$SHOAL_NODE_ID|$BASH_ENV\"; pwd";
        var withDir = Task(command: ["sh", "-c", script]);
        withDir.Spec.Container.Env.Add(["FOO=bar baz", "BASH_ENV=/nonexistent"]);
        withDir.Spec.Container.Dir = dir;
        var withoutDir = Task(command: ["sh", "-c", "pwd"], slot: 2);

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", withDir, withoutDir), Ct);

        await node.ReachesAsync(withDir, TaskState.Complete);
        await node.ReachesAsync(withoutDir, TaskState.Complete);
        Assert.Equal([$"bar baz|{withDir.Id}|1|web|node-1|/nonexistent", dir], Lines(withDir, "stdout.log"));
        Assert.Equal([Path.Combine(_data.Path, "tasks", withoutDir.Id)], Lines(withoutDir, "stdout.log"));
    }

    [Fact]
    public async Task TasksTheExecutorCannotRun_AreRejectedWithTheReason()
    {
        await using var node = Node();
        var noCommand = Task(args: []);
        var missing = Task(args: ["no-such-program-here"], slot: 2);
        var badDir = Task(args: ["true"], slot: 3);
        badDir.Spec.Container.Dir = "/no/such/dir";

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", noCommand, missing, badDir), Ct);

        await node.ReachesAsync(noCommand, TaskState.Rejected);
        await node.ReachesAsync(missing, TaskState.Rejected);
        await node.ReachesAsync(badDir, TaskState.Rejected);
        Assert.StartsWith("no command: the process executor runs the service's command and args", node.Reports.Last(noCommand.Id)!.Err, StringComparison.Ordinal);
        Assert.StartsWith("program \"no-such-program-here\" not found in PATH", node.Reports.Last(missing.Id)!.Err, StringComparison.Ordinal);
        Assert.StartsWith("dir \"/no/such/dir\" does not exist", node.Reports.Last(badDir.Id)!.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AfterAnAgentCrash_ANewWorkerReadoptsTheRunningProcess_StopsIt_AndGetsItsExitCode()
    {
        var task = Task(command: ["/bin/sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done"]);
        int pid;
        await using (var crashed = Node())
        {
            await crashed.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
            await crashed.ReachesAsync(task, TaskState.Running);
            pid = crashed.Reports.Last(task.Id)!.Container.Pid;
            await Eventually.TrueAsync(() => LogHas(task, "stdout.log", "ready"), "the task set its TERM trap");
        }

        // The worker is gone without stopping anything: the process and its shim run on.
        Assert.True(Directory.Exists($"/proc/{pid}"), "the task's process outlived its worker");
        await using var restarted = Node();
        await restarted.Worker.ApplyAsync(Assignments.Complete("t.1", task), Ct);
        await restarted.ReachesAsync(task, TaskState.Running);
        Assert.Equal(pid, restarted.Reports.Last(task.Id)!.Container.Pid);

        await restarted.Worker.ApplyAsync(Assignments.Increment("t.1", "t.2", (Assignments.WithDesired(task, TaskState.Shutdown), AssignmentAction.Update)), Ct);

        await restarted.ReachesAsync(task, TaskState.Shutdown);
        Assert.Equal(7, restarted.Reports.Last(task.Id)!.Container.ExitCode);
        Assert.Contains("got TERM", Lines(task, "stdout.log"));
    }

    [Fact]
    public async Task AProcessThatExitedWhileTheAgentWasDown_IsReportedWithItsExitCode_AndALostOneFails()
    {
        var ended = Task(command: ["/bin/sh", "-c", "while [ ! -e go ]; do sleep 0.05; done; exit 4"]);
        var lost = Task(args: ["sleep", "1000"], slot: 2);
        await using (var crashed = Node())
        {
            await crashed.Worker.ApplyAsync(Assignments.Complete("s.1", ended, lost), Ct);
            await crashed.ReachesAsync(ended, TaskState.Running);
            await crashed.ReachesAsync(lost, TaskState.Running);
        }

        await File.WriteAllTextAsync(Path.Combine(TaskDirectory(ended), "go"), string.Empty, Ct);
        await Eventually.TrueAsync(() => File.Exists(Path.Combine(TaskDirectory(ended), "exit")), "the shim recorded the exit code");
        // The lost task's shim and process are killed together: nobody is left to record how it ended.
        var shimPid = int.Parse((await File.ReadAllTextAsync(Path.Combine(TaskDirectory(lost), "shim"), Ct)).Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        var programPid = int.Parse((await File.ReadAllTextAsync(Path.Combine(TaskDirectory(lost), "pid"), Ct)).Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Kill(shimPid, 9) == 0 && Kill(-programPid, 9) == 0, "killed the shim and the program");

        await using var restarted = Node();
        await restarted.Worker.ApplyAsync(Assignments.Complete("t.1", ended, lost), Ct);

        await restarted.ReachesAsync(ended, TaskState.Failed);
        await restarted.ReachesAsync(lost, TaskState.Failed);
        Assert.Equal(4, restarted.Reports.Last(ended.Id)!.Container.ExitCode);
        Assert.Contains("ended without recording an exit status", restarted.Reports.Last(lost.Id)!.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AShimKilledWhileTheTaskRuns_FailsTheTask_AsLost()
    {
        await using var node = Node();
        var task = Task(args: ["sleep", "1000"]);
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Running);
        var shimPid = int.Parse((await File.ReadAllTextAsync(Path.Combine(TaskDirectory(task), "shim"), Ct)).Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

        Assert.True(Kill(shimPid, 9) == 0 && Kill(-node.Reports.Last(task.Id)!.Container.Pid, 9) == 0, "killed the shim and the program");

        await node.ReachesAsync(task, TaskState.Failed);
        Assert.Contains("ended without recording an exit status", node.Reports.Last(task.Id)!.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARemovedTask_IsKilled_AndItsDirectoryDeleted()
    {
        await using var node = Node();
        var task = Task(args: ["sleep", "1000"]);
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Running);
        var pid = node.Reports.Last(task.Id)!.Container.Pid;

        await node.Worker.ApplyAsync(Assignments.Complete("t.1"), Ct);
        await node.Worker.WhenRemovedAsync(Ct);

        Assert.False(Directory.Exists(TaskDirectory(task)), "the task directory is deleted");
        await Eventually.TrueAsync(() => !Directory.Exists($"/proc/{pid}"), $"process {pid} gone");
    }

    [Fact]
    public async Task ATaskThatFinishedBeforeARestart_KeepsItsLogsUntilRemoved_ThenItsDirectoryIsDeleted()
    {
        var task = Task(args: ["echo", "done"]);
        await using (var before = Node())
        {
            await before.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
            await before.ReachesAsync(task, TaskState.Complete);
        }

        await using var after = Node();
        await after.Worker.ApplyAsync(Assignments.Complete("t.1", task), Ct);
        await after.ReachesAsync(task, TaskState.Complete);
        Assert.Equal(["done"], Lines(task, "stdout.log"));

        await after.Worker.ApplyAsync(Assignments.Increment("t.1", "t.2", (task, AssignmentAction.Remove)), Ct);
        await after.Worker.WhenRemovedAsync(Ct);

        Assert.False(Directory.Exists(TaskDirectory(task)), "the task directory is deleted with the task");
        Assert.Empty(new TaskDb(Path.Combine(_data.Path, "worker")).Load());
    }

    [Fact]
    public async Task AUser_IsApplied_WhenTheAgentRunsAsRoot()
    {
        Assert.SkipUnless(Native.IsRoot, "switching users needs root (the agent refuses a service's user otherwise)");
        await using var node = Node();
        var task = Task(args: ["id", "-u"]);
        task.Spec.Container.User = "65534";

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Complete);
        Assert.Equal(["65534"], Lines(task, "stdout.log"));
    }

    [Fact]
    public async Task ResourceLimits_PutTheProgramInCgroupsWithThoseLimits_RemovedWithTheTask()
    {
        Assert.SkipUnless(Native.IsRoot && File.Exists("/sys/fs/cgroup/memory/cgroup.procs"), "cgroup v1 limits need root and a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory");
        await using var node = Node();
        var task = Task(command: ["/bin/sh", "-c", "cat /proc/$$/cgroup; exec sleep 1000"]);
        task.Spec.Resources = new ResourceRequirements { Limits = new ResourceLimits { MemoryBytes = 64 << 20, NanoCpus = 500_000_000, Pids = 50 } };
        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);
        await node.ReachesAsync(task, TaskState.Running);
        await Eventually.TrueAsync(() => File.Exists(LogOf(task, "stdout.log")) && Lines(task, "stdout.log").Count > 3, "the task printed its cgroups");

        var cgroups = Lines(task, "stdout.log");
        foreach (var controller in new[] { "memory", "cpu", "pids" })
        {
            Assert.Contains(cgroups, l => l.Split(':')[1].Split(',').Contains(controller) && l.EndsWith($"/shoal/{task.Id}", StringComparison.Ordinal));
        }

        Assert.Equal("67108864", (await File.ReadAllTextAsync($"/sys/fs/cgroup/memory/shoal/{task.Id}/memory.limit_in_bytes", Ct)).Trim());
        Assert.Equal("50000", (await File.ReadAllTextAsync($"/sys/fs/cgroup/cpu/shoal/{task.Id}/cpu.cfs_quota_us", Ct)).Trim());
        Assert.Equal("50", (await File.ReadAllTextAsync($"/sys/fs/cgroup/pids/shoal/{task.Id}/pids.max", Ct)).Trim());

        await node.Worker.ApplyAsync(Assignments.Complete("t.1"), Ct);
        await node.Worker.WhenRemovedAsync(Ct);
        Assert.False(Directory.Exists($"/sys/fs/cgroup/memory/shoal/{task.Id}"), "the task's memory cgroup is removed with it");
    }

    [Fact]
    public async Task ResourceLimits_AreSkipped_WhereCgroupsCannotBeUsed()
    {
        var empty = Directory.CreateDirectory(Path.Combine(_data.Path, "no-cgroups")).FullName;
        await using var node = new WorkerUnderTest(_data.Path, new ProcessExecutor(new ProcessExecutorOptions { DataDirectory = _data.Path, CgroupRoot = empty, PollInterval = TimeSpan.FromMilliseconds(20) }));
        var task = Task(args: ["true"]);
        task.Spec.Resources = new ResourceRequirements { Limits = new ResourceLimits { MemoryBytes = 64 << 20 } };

        await node.Worker.ApplyAsync(Assignments.Complete("s.1", task), Ct);

        await node.ReachesAsync(task, TaskState.Complete);
    }

    [Fact]
    public void LaunchChecks_RejectUnsupportedRuntimesAndSignals_AndParseSignals()
    {
        var plugin = Task(args: ["true"]);
        plugin.Spec.Plugin = new PluginSpec { Name = "x" };
        Assert.Contains("unsupported runtime \"plugin\"", Assert.Throws<TaskRejectedException>(() => ProcessExecutor.Launch(plugin)).Message, StringComparison.Ordinal);
        var badSignal = Task(args: ["true"]);
        badSignal.Spec.Container.StopSignal = "SIGNOPE";
        Assert.Contains("unknown stop signal \"SIGNOPE\"", Assert.Throws<TaskRejectedException>(() => ProcessExecutor.Launch(badSignal)).Message, StringComparison.Ordinal);
        Assert.Equal([15, 15, 2, 10, 9, null], new[] { "", "SIGTERM", "int", "USR1", "9", "99" }.Select(Signals.Parse));

        var launch = ProcessExecutor.Launch(Task(command: ["/bin/echo", "a"], args: ["b"]));
        Assert.Equal(["/bin/echo", "a", "b"], launch.Command);

        var executor = new ProcessExecutor(new ProcessExecutorOptions { DataDirectory = _data.Path });
        var description = new ExecutorDescriptionProvider(executor).Describe();
        Assert.Equal("process", description.Engine.Labels["shoal.executor"]);
        Assert.False(string.IsNullOrEmpty(description.Hostname));
    }

    private WorkerUnderTest Node() =>
        new(_data.Path, new ProcessExecutor(new ProcessExecutorOptions { DataDirectory = _data.Path, PollInterval = TimeSpan.FromMilliseconds(20) }));

    private static SwarmTask Task(string[]? command = null, string[]? args = null, long slot = 1)
    {
        var task = Assignments.Task(Web, slot);
        task.Spec.Container.Command.Clear();
        task.Spec.Container.Args.Clear();
        task.Spec.Container.Command.Add(command ?? []);
        task.Spec.Container.Args.Add(args ?? []);
        return task;
    }

    private string TaskDirectory(SwarmTask task) => Path.Combine(_data.Path, "tasks", task.Id);

    private string LogOf(SwarmTask task, string file) => Path.Combine(TaskDirectory(task), file);

    private IReadOnlyList<string> Lines(SwarmTask task, string file) =>
        [.. File.ReadAllLines(LogOf(task, file)).Select(l => l[(l.IndexOf(' ', StringComparison.Ordinal) + 1)..])];

    private bool LogHas(SwarmTask task, string file, string line) => File.Exists(LogOf(task, file)) && Lines(task, file).Contains(line);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
}
