using Microsoft.Extensions.Time.Testing;
using Shoal.Cli.Output;

namespace Shoal.Cli.Tests;

/// <summary>
/// The progress display's convergence rules (docker/cli <c>service/progress</c>), poll by poll under a fake clock:
/// what each poll shows and when the watch ends.
/// </summary>
public sealed class ServiceConvergenceTests
{
    private static readonly HashSet<string> NodesAB = ["node-a", "node-b"];

    private readonly FakeTimeProvider _clock = new();

    [Fact]
    public void Replicated_ShowsEverySlot_ThenWaitsTheMonitorWindow_ThenConverges()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var service = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 3, Monitor: TimeSpan.FromSeconds(2));

        var first = Poll(convergence, service, [Task(1, "running"), Task(2, "starting"), Task(3, "pending")]);

        Assert.Equal(ConvergenceOutcome.Watching, first.Outcome);
        Assert.Equal(
            [
                ("overall progress", "0 out of 3 tasks"),
                ("1/3", " "), ("2/3", " "), ("3/3", " "),
                ("1/3", "running  "), ("2/3", "starting "), ("3/3", "pending  "),
                ("overall progress", "1 out of 3 tasks"),
            ],
            first.Lines);
        Assert.Equal((9L, (long?)9), (first.Updates[4].Current, first.Updates[4].Total));

        var running = Poll(convergence, service, [Task(1, "running"), Task(2, "running"), Task(3, "running")]);
        Assert.Equal(ConvergenceOutcome.Watching, running.Outcome);
        Assert.Equal(("overall progress", "3 out of 3 tasks"), running.Lines[^2]);
        Assert.Equal(("verify", "Waiting 3 seconds to verify that tasks are stable..."), running.Lines[^1]);

        _clock.Advance(TimeSpan.FromSeconds(1));
        var waiting = Poll(convergence, service, [Task(1, "running"), Task(2, "running"), Task(3, "running")]);
        Assert.Equal(ConvergenceOutcome.Watching, waiting.Outcome);
        // Once done, the bars stay as they are: only the verify line changes.
        Assert.Equal([("verify", "Waiting 2 seconds to verify that tasks are stable...")], waiting.Lines);

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(ConvergenceOutcome.Converged, convergence.ObserveService(service));
        Assert.Equal([("verify", "Service web converged")], Lines(convergence.TakeUpdates()));
    }

    [Fact]
    public void Replicated_ASlotFailingDuringTheVerifyWindow_ResetsTheTimer()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var service = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 2, Monitor: TimeSpan.FromSeconds(5));
        Poll(convergence, service, [Task(1, "running"), Task(2, "running")]);
        _clock.Advance(TimeSpan.FromSeconds(4));

        // Slot 2's task failed: the restart put a new one in the slot; the failed one stays with desired shutdown.
        var failed = Poll(convergence, service,
        [
            Task(1, "running"),
            Task(2, "failed", desired: "shutdown", error: "task: non-zero exit (1)"),
            Task(2, "pending"),
        ]);

        Assert.Equal(ConvergenceOutcome.Watching, failed.Outcome);
        Assert.Contains(("2/2", "pending  "), failed.Lines);
        Assert.Contains(("overall progress", "1 out of 2 tasks"), failed.Lines);
        Assert.Equal(("verify", "Detected task failure"), failed.Lines[^1]);

        // Stable again: the whole window is waited for anew, not the second that was left.
        _clock.Advance(TimeSpan.FromSeconds(1));
        var again = Poll(convergence, service, [Task(1, "running"), Task(2, "running")]);
        Assert.Equal(("verify", "Waiting 6 seconds to verify that tasks are stable..."), again.Lines[^1]);
        _clock.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(ConvergenceOutcome.Watching, convergence.ObserveService(service));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(ConvergenceOutcome.Converged, convergence.ObserveService(service));
    }

    [Fact]
    public void Replicated_TaskError_ShowsOnItsSlot_OnOneLine_AtMost75Characters()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var service = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 1);
        var error = "no suitable node (scheduling constraints not satisfied on 3 nodes)\nand a second line that is long";

        var poll = Poll(convergence, service, [Task(1, "pending", node: string.Empty, error: error)]);

        var bar = poll.Lines.Single(l => l.Id == "1/1" && l.Action.Length > 1).Action;
        Assert.Equal(75, bar.Length);
        Assert.StartsWith("no suitable node (scheduling constraints not satisfied on 3 nodes) and a", bar, StringComparison.Ordinal);
        Assert.EndsWith("…", bar, StringComparison.Ordinal);
    }

    [Fact]
    public void Replicated_TasksOnDownNodes_DoNotCount_AndTheStartFirstTwinWithTheLowerStateShows()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var service = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 2);

        var poll = Poll(convergence, service,
            [Task(1, "running", node: "node-down"), Task(2, "running"), Task(2, "starting")],
            active: NodesAB);

        // Slots are drawn in the order they are first seen: slot 2 is the first bar while slot 1 has no task to show.
        Assert.Equal(
            [
                ("overall progress", "0 out of 2 tasks"),
                ("1/2", " "), ("2/2", " "),
                ("1/2", "starting "),
                ("overall progress", "0 out of 2 tasks"),
            ],
            poll.Lines);
    }

    [Fact]
    public void Replicated_MoreThan20Replicas_ShowsOnlyTheOverallLine()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var service = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 21);

        var poll = Poll(convergence, service, [.. Enumerable.Range(1, 21).Select(slot => Task(slot, "running"))]);

        Assert.Equal(
            [("overall progress", "0 out of 21 tasks"), ("overall progress", "21 out of 21 tasks"), ("verify", "Waiting 6 seconds to verify that tasks are stable...")],
            poll.Lines);
    }

    [Fact]
    public void Global_WaitsForTasks_ThenShowsOneLinePerNode_ByTruncatedNodeId()
    {
        var convergence = new ServiceConvergence("agent", _clock);
        var service = new ConvergenceService(ServiceModeKind.Global, Monitor: TimeSpan.FromSeconds(1));
        HashSet<string> nodes = ["aaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbb"];

        var empty = Poll(convergence, service, [], active: nodes);
        Assert.Equal([("overall progress", "waiting for new tasks")], empty.Lines);

        var poll = Poll(convergence, service,
            [Task(0, "running", node: "aaaaaaaaaaaaaaaaaaaaaaaaa"), Task(0, "preparing", node: "bbbbbbbbbbbbbbbbbbbbbbbbb")],
            active: nodes);
        Assert.Equal(
            [
                ("overall progress", "0 out of 2 tasks"),
                ("aaaaaaaaaaaa", "running  "),
                ("bbbbbbbbbbbb", "preparing"),
                ("overall progress", "1 out of 2 tasks"),
            ],
            poll.Lines);

        var done = Poll(convergence, service,
            [Task(0, "running", node: "aaaaaaaaaaaaaaaaaaaaaaaaa"), Task(0, "running", node: "bbbbbbbbbbbbbbbbbbbbbbbbb")],
            active: nodes);
        Assert.Equal(("verify", "Waiting 2 seconds to verify that tasks are stable..."), done.Lines[^1]);
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(ConvergenceOutcome.Converged, convergence.ObserveService(service));
    }

    [Fact]
    public void ReplicatedJob_CountsCompletionsOfTheCurrentIteration_AndEndsWithoutAVerifyWindow()
    {
        var convergence = new ServiceConvergence("batch", _clock);
        var service = new ConvergenceService(ServiceModeKind.ReplicatedJob, MaxConcurrent: 2, TotalCompletions: 3, JobIteration: 7);

        var running = Poll(convergence, service,
        [
            Task(0, "complete", desired: "complete", iteration: 7),
            Task(1, "running", desired: "complete", iteration: 7),
            Task(2, "complete", desired: "complete", iteration: 6),
        ]);

        Assert.Equal(ConvergenceOutcome.Watching, running.Outcome);
        Assert.Contains(("1/3", "complete "), running.Lines);
        Assert.Contains(("2/3", "running  "), running.Lines);
        Assert.Equal([("job progress", "1 out of 3 complete"), ("active tasks", "1 out of 2 tasks")], running.Lines[^2..]);

        var complete = Poll(convergence, service,
        [
            Task(0, "complete", desired: "complete", iteration: 7),
            Task(1, "complete", desired: "complete", iteration: 7),
            Task(2, "complete", desired: "complete", iteration: 7),
        ]);

        Assert.Equal(ConvergenceOutcome.Converged, complete.Outcome);
        Assert.Equal(("job progress", "3 out of 3 complete"), complete.Lines[^3]);
        Assert.Equal(("active tasks", "0 out of 0 tasks"), complete.Lines[^2]);
        Assert.Equal((string.Empty, "job complete"), complete.Lines[^1]);
    }

    [Fact]
    public void GlobalJob_WaitsForTheNodesOfItsFirstTasks_AndIgnoresNodesThatJoinLater()
    {
        var convergence = new ServiceConvergence("migrate", _clock);
        var service = new ConvergenceService(ServiceModeKind.GlobalJob, JobIteration: 1);

        var waiting = Poll(convergence, service, [], active: NodesAB);
        Assert.Equal([("job progress", "waiting for tasks")], waiting.Lines);

        var started = Poll(convergence, service,
            [Task(0, "running", node: "node-a", desired: "complete", iteration: 1), Task(0, "complete", node: "node-b", desired: "complete", iteration: 1)],
            active: NodesAB);
        Assert.Equal(("job progress", "1 out of 2 complete"), started.Lines[^1]);

        var done = Poll(convergence, service,
        [
            Task(0, "complete", node: "node-a", desired: "complete", iteration: 1),
            Task(0, "complete", node: "node-b", desired: "complete", iteration: 1),
            Task(0, "running", node: "node-c", desired: "complete", iteration: 1),
        ]);
        Assert.Equal(ConvergenceOutcome.Converged, done.Outcome);
        Assert.DoesNotContain(done.Lines, l => l.Id == "node-c");
    }

    [Fact]
    public void UpdatePaused_Fails_WithTheServicesMessage()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var service = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 1, UpdateState: "paused", UpdateMessage: "update paused due to failure or early termination of task x");

        Assert.Equal(ConvergenceOutcome.Failed, convergence.ObserveService(service));
        Assert.Equal("service update paused: update paused due to failure or early termination of task x", convergence.Failure);
    }

    [Fact]
    public void UpdateCompleted_BeforeConvergenceWasSeen_StopsWithoutTheConvergedLine()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var service = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 1, UpdateState: "completed");

        Assert.Equal(ConvergenceOutcome.Stopped, convergence.ObserveService(service));
        Assert.Empty(convergence.TakeUpdates());
    }

    [Fact]
    public void Rollback_SaysSo_CountsAsRollingBack_AndPrintsTheCompletionMessageAfterConverging()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var started = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 1, Monitor: TimeSpan.FromSeconds(1), UpdateState: "rollback_started", UpdateMessage: "manually requested rollback");

        var poll = Poll(convergence, started, [Task(1, "starting")]);
        Assert.Equal(("rollback", "manually requested rollback"), poll.Lines[0]);
        Assert.Equal(("overall progress", "rolling back update: 0 out of 1 tasks"), poll.Lines[^1]);

        var completed = started with { UpdateState = "rollback_completed", UpdateMessage = "rollback completed" };
        Poll(convergence, completed, [Task(1, "running")]);
        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(ConvergenceOutcome.Converged, convergence.ObserveService(completed));
        Assert.Equal([("verify", "Service web converged"), ("rollback", "rollback completed")], Lines(convergence.TakeUpdates()));
    }

    [Fact]
    public void RollbackPaused_Fails_WithTheServicesMessage()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var service = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 1, UpdateState: "rollback_paused", UpdateMessage: "rollback paused due to failure of task y");

        Assert.Equal(ConvergenceOutcome.Failed, convergence.ObserveService(service));
        Assert.Equal("service rollback paused: rollback paused due to failure of task y", convergence.Failure);
    }

    [Fact]
    public void UpdatePaused_AfterTasksWereShown_StillFails()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var updating = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 1, Monitor: TimeSpan.FromSeconds(5), UpdateState: "updating");
        Assert.Equal(ConvergenceOutcome.Watching, Poll(convergence, updating, [Task(1, "running")]).Outcome);

        Assert.Equal(ConvergenceOutcome.Failed, convergence.ObserveService(updating with { UpdateState = "paused", UpdateMessage = "m" }));
        Assert.Equal("service update paused: m", convergence.Failure);
    }

    [Fact]
    public void UpdateCompleted_AfterConvergence_StillWaitsOutTheMonitorWindow()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var updating = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 1, Monitor: TimeSpan.FromSeconds(2), UpdateState: "updating");
        Poll(convergence, updating, [Task(1, "running")]);

        var completed = updating with { UpdateState = "completed" };
        Assert.Equal(ConvergenceOutcome.Watching, Poll(convergence, completed, [Task(1, "running")]).Outcome);
        _clock.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(ConvergenceOutcome.Converged, convergence.ObserveService(completed));
        Assert.Equal([("verify", "Service web converged")], Lines(convergence.TakeUpdates()));
    }

    [Fact]
    public void RollbackStarted_SaysSoOnce_AndANewUpdateSwitchesTheTextBack()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var started = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 1, UpdateState: "rollback_started", UpdateMessage: "update paused due to failure");

        var first = Poll(convergence, started, [Task(1, "starting")]);
        var second = Poll(convergence, started, [Task(1, "starting")]);
        var updating = Poll(convergence, started with { UpdateState = "updating", UpdateMessage = "update in progress" }, [Task(1, "starting")]);

        Assert.Single(first.Lines, l => l.Id == "rollback");
        Assert.DoesNotContain(second.Lines, l => l.Id == "rollback");
        Assert.Equal(("overall progress", "0 out of 1 tasks"), updating.Lines[^1]);
    }

    [Fact]
    public void RollbackCompleted_SeenOnlyAfterConverging_PrintsNoCompletionMessage()
    {
        var convergence = new ServiceConvergence("web", _clock);
        var started = new ConvergenceService(ServiceModeKind.Replicated, Replicas: 1, Monitor: TimeSpan.FromSeconds(1), UpdateState: "rollback_started");
        Poll(convergence, started, [Task(1, "running")]);

        var completed = started with { UpdateState = "rollback_completed", UpdateMessage = "rollback completed" };
        Poll(convergence, completed, [Task(1, "running")]);
        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(ConvergenceOutcome.Converged, convergence.ObserveService(completed));
        Assert.Equal([("verify", "Service web converged")], Lines(convergence.TakeUpdates()));
    }

    [Fact]
    public void UnknownMode_IsRefused_WithTheReason()
    {
        var convergence = new ServiceConvergence("web", _clock);

        var error = Assert.Throws<CommandException>(() => convergence.ObserveService(new ConvergenceService(ServiceModeKind.Unknown)));

        Assert.StartsWith("unrecognized service mode", error.Message, StringComparison.Ordinal);
    }

    private static ConvergenceTask Task(int slot, string state, string node = "node-a", string desired = "running", string? error = null, ulong? iteration = null) =>
        new(slot, node, desired, state, error, iteration);

    private static PollResult Poll(ServiceConvergence convergence, ConvergenceService service, ConvergenceTask[] tasks, HashSet<string>? active = null)
    {
        var outcome = convergence.ObserveService(service);
        if (outcome == ConvergenceOutcome.Watching)
        {
            outcome = convergence.ObserveTasks(tasks, active ?? NodesAB);
        }

        var updates = convergence.TakeUpdates();
        return new PollResult(outcome, updates, Lines(updates));
    }

    private static List<(string Id, string Action)> Lines(IReadOnlyList<ProgressUpdate> updates) =>
        [.. updates.Select(u => (u.Id, u.Action))];

    private sealed record PollResult(ConvergenceOutcome Outcome, IReadOnlyList<ProgressUpdate> Updates, List<(string Id, string Action)> Lines);
}
