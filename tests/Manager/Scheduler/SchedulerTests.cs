using Shoal.Api;
using Shoal.Store;
using Shoal.TestKit;
using static Shoal.Manager.Tests.Scheduling.SchedulerHarness;
using SchedulerLoop = Shoal.Manager.Scheduler.Scheduler;

namespace Shoal.Manager.Tests.Scheduling;

/// <summary>The scheduler against a Raft-less store, with real time (50 ms debounce) and condition waits: SwarmKit's
/// scheduler scenarios.</summary>
public sealed class SchedulerTests
{
    [Fact]
    public async Task PendingTasks_SpreadAcrossNodes_ByServiceThenByTotal()
    {
        var web = Objects.Service("web");
        var db = Objects.Service("db");
        await using var harness = await StartAsync(
            Node("node-a"), Node("node-b"), Node("node-c"),
            Running(web, "node-a"), Running(db, "node-b", 1), Running(db, "node-b", 2));
        var tasks = Enumerable.Range(2, 4).Select(slot => Pending(web, slot)).ToArray();

        await harness.CreateAsync(tasks);
        await harness.WaitAssignedAsync(tasks);

        // node-c (0 web, 0 in all) first, then node-b (0 web); then node-a and node-c tie at (1 web, 1 in all) and the
        // id decides; the last goes to node-c (1 web, 1) rather than node-b (1 web, 3 in all).
        var counts = harness.CountByNode(tasks);
        Assert.Equal(new Dictionary<string, int> { ["node-a"] = 1, ["node-b"] = 1, ["node-c"] = 2 }, counts);
        var assigned = harness.Get(tasks[0].Id);
        Assert.Equal(SchedulerLoop.AssignedMessage, assigned.Status.Message);
        Assert.Equal(string.Empty, assigned.Status.Err);
        Assert.NotNull(assigned.Status.Timestamp);
    }

    [Fact]
    public async Task SpreadPreference_DividesTasksEvenlyOverTheLabelsValues_BeforeNodes()
    {
        var web = Objects.Service("web");
        await using var harness = await StartAsync(
            Node("node-a1", labels: ("zone", "a")), Node("node-a2", labels: ("zone", "a")), Node("node-a3", labels: ("zone", "a")),
            Node("node-b1", labels: ("zone", "b")),
            Node("node-x"));
        var spread = (Action<TaskSpec>)(spec => spec.Placement = new Placement
        {
            Preferences = { new PlacementPreference { Spread = new SpreadOver { SpreadDescriptor = "node.labels.zone" } } },
        });
        var tasks = Enumerable.Range(1, 6).Select(slot => Pending(web, slot, spread)).ToArray();

        await harness.CreateAsync(tasks);
        await harness.WaitAssignedAsync(tasks);

        // Three values (a, b, and none for node-x) share six tasks: two each, whatever the number of nodes per value.
        var counts = harness.CountByNode(tasks);
        Assert.Equal(2, counts.GetValueOrDefault("node-b1"));
        Assert.Equal(2, counts.GetValueOrDefault("node-x"));
        Assert.Equal(2, counts.Where(c => c.Key.StartsWith("node-a", StringComparison.Ordinal)).Sum(c => c.Value));
        Assert.True(counts.Where(c => c.Key.StartsWith("node-a", StringComparison.Ordinal)).All(c => c.Value == 1), "zone a's two tasks go to two different nodes");
    }

    [Fact]
    public async Task InsufficientResources_TaskStaysPending_WithTheExplanation()
    {
        var web = Objects.Service("web");
        await using var harness = await StartAsync(
            Node("node-a", nanoCpus: 1_000_000_000, memoryBytes: 1L << 30),
            Node("node-b", nanoCpus: 1_000_000_000, memoryBytes: 1L << 30));
        var big = Pending(web, 1, Reserve(2_000_000_000));

        await harness.CreateAsync(big);

        await harness.WaitErrorAsync(big, "no suitable node (insufficient resources on 2 nodes)");
        var task = harness.Get(big.Id);
        Assert.Equal(TaskState.Pending, task.Status.State);
        Assert.Equal(string.Empty, task.NodeId);
    }

    [Fact]
    public async Task TaskFinishing_FreesItsResources_ForAPendingTask()
    {
        var web = Objects.Service("web");
        var running = Running(web, "node-a", 1, Reserve(1_000_000_000, 512L << 20));
        await using var harness = await StartAsync(Node("node-a", nanoCpus: 1_000_000_000, memoryBytes: 1L << 30), running);
        var waiting = Pending(web, 2, Reserve(1_000_000_000, 512L << 20));
        await harness.CreateAsync(waiting);
        await harness.WaitErrorAsync(waiting, "no suitable node (insufficient resources on 1 node)");

        await harness.ChangeTaskAsync(running.Id, t => t.Status = new SwarmTaskStatus { State = TaskState.Complete });

        await harness.WaitAssignedAsync(waiting);
        Assert.Equal("node-a", harness.Get(waiting.Id).NodeId);
    }

    [Theory]
    [InlineData("node.role==manager", "m1")]
    [InlineData("node.labels.disk==SSD", "m1")]
    [InlineData("node.role==worker|node.labels.disk==hdd", "w1")]
    [InlineData("node.hostname==gamma", "w2")]
    [InlineData("node.hostname!=alpha|node.hostname!=beta", "w2")]
    [InlineData("node.id==w1", "w1")]
    [InlineData("node.platform.os==linux|node.labels.disk!=hdd|node.role!=manager", "w2")]
    [InlineData("engine.labels.gpu==true", "w2")]
    public async Task Constraints_PlaceTheTask_OnTheOnlyNodeMatchingThemAll(string constraints, string expectedNode)
    {
        var web = Objects.Service("web");
        var gamma = Node("w2", "gamma");
        gamma.Description.Engine = new EngineDescription { Labels = { ["gpu"] = "true" } };
        await using var harness = await StartAsync(
            Node("m1", "alpha", NodeRole.Manager, labels: ("disk", "ssd")),
            Node("w1", "beta", labels: ("disk", "hdd")),
            gamma);
        var task = Pending(web, 1, Constraints(constraints.Split('|')));

        await harness.CreateAsync(task);

        await harness.WaitAssignedAsync(task);
        Assert.Equal(expectedNode, harness.Get(task.Id).NodeId);
    }

    [Fact]
    public async Task UnsatisfiableConstraint_TaskStaysPending_ExplainedMostFailuresFirst()
    {
        var web = Objects.Service("web");
        var down = Node("node-d");
        down.Status.State = NodeState.Down;
        await using var harness = await StartAsync(Node("node-a"), Node("node-b"), Node("node-c"), down);
        var task = Pending(web, 1, Constraints("node.labels.zone==eu"));

        await harness.CreateAsync(task);

        await harness.WaitErrorAsync(task, "no suitable node (scheduling constraints not satisfied on 3 nodes; 1 node not available for new tasks)");
    }

    [Fact]
    public async Task MalformedConstraint_TaskStaysPending_WithTheParseError()
    {
        var web = Objects.Service("web");
        await using var harness = await StartAsync(Node("node-a"));
        var task = Pending(web, 1, Constraints("node.labels.zone=eu"));

        await harness.CreateAsync(task);

        await harness.WaitErrorAsync(task, "invalid constraint \"node.labels.zone=eu\": expected key==value or key!=value");
        Assert.Equal(TaskState.Pending, harness.Get(task.Id).Status.State);
    }

    [Fact]
    public async Task MaxReplicasPerNode_LimitsTheServicesTasksOnEachNode()
    {
        var web = Objects.Service("web");
        await using var harness = await StartAsync(Node("node-a"), Node("node-b"));
        var tasks = Enumerable.Range(1, 5).Select(slot => Pending(web, slot, spec => spec.Placement = new Placement { MaxReplicas = 2 })).ToArray();

        await harness.CreateAsync(tasks);

        await Eventually.TrueAsync(() => tasks.Count(t => harness.Get(t.Id).NodeId.Length > 0) == 4 && tasks.Any(t => harness.Get(t.Id).Status.Err.Length > 0), "4 tasks assigned and 1 explained");
        Assert.Equal(new Dictionary<string, int> { ["node-a"] = 2, ["node-b"] = 2 }, harness.CountByNode(tasks));
        var left = tasks.Select(t => harness.Get(t.Id)).Single(t => t.NodeId.Length == 0);
        Assert.Equal("no suitable node (max replicas per node limit exceed)", left.Status.Err);
    }

    [Fact]
    public async Task HostModePort_IsNeverPlacedTwiceOnOneNode()
    {
        var web = Objects.Service("web");
        await using var harness = await StartAsync(Node("node-a"), Node("node-b"));
        var tasks = Enumerable.Range(1, 3).Select(slot =>
        {
            var task = Pending(web, slot);
            task.Endpoint = new Endpoint { Ports = { new PortConfig { TargetPort = 80, PublishedPort = 8080, PublishMode = PublishMode.Host } } };
            return task;
        }).ToArray();

        await harness.CreateAsync(tasks);

        await Eventually.TrueAsync(() => tasks.Count(t => harness.Get(t.Id).NodeId.Length > 0) == 2 && tasks.Any(t => harness.Get(t.Id).Status.Err.Length > 0), "2 tasks assigned and 1 explained");
        Assert.Equal(new Dictionary<string, int> { ["node-a"] = 1, ["node-b"] = 1 }, harness.CountByNode(tasks));
        var left = tasks.Select(t => harness.Get(t.Id)).Single(t => t.NodeId.Length == 0);
        Assert.Equal("no suitable node (host-mode port already in use on 2 nodes)", left.Status.Err);
    }

    [Fact]
    public async Task PlatformPlacement_ChoosesANodeOfAListedPlatform()
    {
        var web = Objects.Service("web");
        var arm = Node("node-arm");
        arm.Description.Platform = new Platform { Os = "linux", Architecture = "aarch64" };
        await using var harness = await StartAsync(Node("node-amd"), arm);
        var task = Pending(web, 1, spec => spec.Placement = new Placement { Platforms = { new Platform { Os = "linux", Architecture = "arm64" } } });

        await harness.CreateAsync(task);

        await harness.WaitAssignedAsync(task);
        Assert.Equal("node-arm", harness.Get(task.Id).NodeId);
    }

    [Theory]
    [InlineData(NodeState.Down, NodeAvailability.Active)]
    [InlineData(NodeState.Unknown, NodeAvailability.Active)]
    [InlineData(NodeState.Ready, NodeAvailability.Drain)]
    [InlineData(NodeState.Ready, NodeAvailability.Pause)]
    public async Task UnavailableNodes_AreNeverChosen(NodeState state, NodeAvailability availability)
    {
        var web = Objects.Service("web");
        var unavailable = Node("node-a");
        unavailable.Status.State = state;
        unavailable.Spec.Availability = availability;
        await using var harness = await StartAsync(unavailable);
        var first = Pending(web, 1);
        await harness.CreateAsync(first);
        await harness.WaitErrorAsync(first, "no suitable node (1 node not available for new tasks)");

        await harness.CreateAsync(Node("node-b"));
        var more = Enumerable.Range(2, 3).Select(slot => Pending(web, slot)).ToArray();
        await harness.CreateAsync(more);

        await harness.WaitAssignedAsync([first, .. more]);
        Assert.Equal(new Dictionary<string, int> { ["node-b"] = 4 }, harness.CountByNode([first, .. more]));
    }

    [Fact]
    public async Task NodeJoining_LetsPendingTasksSchedule()
    {
        var web = Objects.Service("web");
        await using var harness = await StartAsync();
        var task = Pending(web);
        await harness.CreateAsync(task);
        await harness.WaitErrorAsync(task, "no suitable node");

        await harness.CreateAsync(Node("node-a"));

        await harness.WaitAssignedAsync(task);
        Assert.Equal("node-a", harness.Get(task.Id).NodeId);
    }

    [Fact]
    public async Task PreassignedTask_IsAssigned_OnlyToItsOwnNode_WhenThatNodeCanTakeIt()
    {
        var agent = Objects.Service("agent");
        await using var harness = await StartAsync(Node("node-a"), Node("node-b", nanoCpus: 1_000_000_000), Node("node-c"));
        var fits = Objects.Task(agent, 0, "node-b", TaskState.Pending);
        var tooBig = Objects.Task(agent, 0, "node-c", TaskState.Pending);
        tooBig.Spec.Resources = new ResourceRequirements { Reservations = new Resources { NanoCpus = 1_000_000_000 } };

        await harness.CreateAsync(fits, tooBig);

        await harness.WaitAssignedAsync(fits);
        Assert.Equal("node-b", harness.Get(fits.Id).NodeId);
        await harness.WaitErrorAsync(tooBig, "no suitable node (insufficient resources on 1 node)");
        Assert.Equal(TaskState.Pending, harness.Get(tooBig.Id).Status.State);
        Assert.Equal("node-c", harness.Get(tooBig.Id).NodeId);
    }

    [Fact]
    public async Task TasksNotWaitingForANode_AreLeftAlone()
    {
        var web = Objects.Service("web");
        await using var harness = await StartAsync(Node("node-a"));
        var stillNew = Objects.Task(web, 1, state: TaskState.New);
        var shuttingDown = Pending(web, 2);
        shuttingDown.DesiredState = TaskState.Shutdown;
        var ready = Pending(web, 3);

        await harness.CreateAsync(stillNew, shuttingDown, ready);
        await harness.WaitAssignedAsync(ready);

        Assert.Equal(string.Empty, harness.Get(stillNew.Id).NodeId);
        Assert.Equal(TaskState.New, harness.Get(stillNew.Id).Status.State);
        Assert.Equal(string.Empty, harness.Get(shuttingDown.Id).NodeId);
        Assert.Equal(TaskState.Pending, harness.Get(shuttingDown.Id).Status.State);
    }

    [Fact]
    public async Task ConflictingUpdate_IsSkipped_AndTheTaskIsScheduledAgain()
    {
        var web = Objects.Service("web");
        await using var harness = new SchedulerHarness();
        await harness.CreateAsync(Node("node-a"));
        var task = Pending(web);
        var interfered = 0;
        harness.Scheduler.BeforeCommitAsync = async ct =>
        {
            if (Interlocked.Increment(ref interfered) == 1)
            {
                // Another component writes the task between the decision and its commit.
                await harness.ChangeTaskAsync(task.Id, t => t.Annotations.Labels["touched"] = "yes");
            }
        };
        harness.Start();

        await harness.CreateAsync(task);

        await harness.WaitAssignedAsync(task);
        var stored = harness.Get(task.Id);
        Assert.Equal("yes", stored.Annotations.Labels["touched"]);
        Assert.Equal("node-a", stored.NodeId);
        Assert.True(harness.Scheduler.PassesCompleted >= 2, $"the conflicting decision was retried in a later pass ({harness.Scheduler.PassesCompleted} passes)");
    }

    [Fact]
    public async Task DecisionForATaskNoLongerPending_IsDropped_AndItsPlaceGivenBack()
    {
        var web = Objects.Service("web");
        await using var harness = new SchedulerHarness();
        await harness.CreateAsync(Node("node-a"), Node("node-b"));
        var cancelled = Pending(web, 1);
        harness.Scheduler.BeforeCommitAsync = async ct =>
        {
            if (harness.Get(cancelled.Id).DesiredState == TaskState.Running)
            {
                await harness.ChangeTaskAsync(cancelled.Id, t => t.DesiredState = TaskState.Shutdown);
            }
        };
        harness.Start();
        await harness.WaitNextPassAsync(() => harness.CreateAsync(cancelled));
        Assert.Equal(string.Empty, harness.Get(cancelled.Id).NodeId);

        // node-a (first by id) was chosen for the dropped task; had its place not been given back, node-b would win now.
        var next = Pending(web, 2);
        await harness.CreateAsync(next);

        await harness.WaitAssignedAsync(next);
        Assert.Equal("node-a", harness.Get(next.Id).NodeId);
        Assert.Equal(string.Empty, harness.Get(cancelled.Id).NodeId);
    }

    [Fact]
    public async Task NodeGoingDown_BetweenDecisionAndCommit_TheTaskIsPlacedElsewhere()
    {
        var web = Objects.Service("web");
        await using var harness = new SchedulerHarness();
        await harness.CreateAsync(Node("node-a"), Node("node-b"), Running(web, "node-b"));
        harness.Scheduler.BeforeCommitAsync = async ct =>
        {
            if (harness.Store.View().Nodes.Get("node-a")!.Status.State == NodeState.Ready)
            {
                await harness.ChangeNodeAsync("node-a", n => n.Status.State = NodeState.Down);
            }
        };
        harness.Start();
        var task = Pending(web, 2);

        await harness.CreateAsync(task);

        // node-a (no task of web) was chosen first; it went DOWN before the commit, so the task lands on node-b.
        await harness.WaitAssignedAsync(task);
        Assert.Equal("node-b", harness.Get(task.Id).NodeId);
    }

    [Fact]
    public async Task ManyDecisions_AreCommittedInBatchesOf200()
    {
        var web = Objects.Service("web");
        await using var harness = await StartAsync(Node("node-a"), Node("node-b"), Node("node-c"));
        using var watcher = harness.Store.Watch(new WatchOptions
        {
            Filter = StoreEventFilters.Of<SwarmTask>(StoreEventKinds.Update, t => t.Status.State == TaskState.Assigned),
            Capacity = int.MaxValue,
        });
        var tasks = Enumerable.Range(1, 450).Select(slot => Pending(web, slot)).ToArray();

        await harness.CreateAsync(tasks);

        var versions = new HashSet<ulong>();
        for (var seen = 0; seen < tasks.Length; seen++)
        {
            var e = await watcher.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            versions.Add(e.Version);
        }

        Assert.Equal(3, versions.Count);
        Assert.Equal(new Dictionary<string, int> { ["node-a"] = 150, ["node-b"] = 150, ["node-c"] = 150 }, harness.CountByNode(tasks));
    }

    [Fact]
    public async Task IdenticalOneOffTasks_AreOneGroup_AndSpreadEvenly()
    {
        var nodes = Enumerable.Range(0, 10).Select(i => Node($"node-{i}")).ToArray();
        await using var harness = await StartAsync(nodes);
        var tasks = Enumerable.Range(0, 1000).Select(_ => OneOff()).ToArray();

        await harness.CreateAsync(tasks);

        await harness.WaitAssignedAsync(tasks);
        Assert.Equal(1, harness.Scheduler.LastPassGroups);
        Assert.All(harness.CountByNode(tasks).Values, count => Assert.Equal(100, count));
    }

    [Fact]
    public async Task TaskCompletingOrRemoved_LowersTheCountUsedByTheNextDecision()
    {
        var web = Objects.Service("web");
        var finishing = Running(web, "node-a", 1);
        var removed = Running(web, "node-a", 2);
        await using var harness = await StartAsync(Node("node-a"), Node("node-b"), finishing, removed, Running(web, "node-b", 3));

        await harness.ChangeTaskAsync(finishing.Id, t => t.Status = new SwarmTaskStatus { State = TaskState.Complete });
        await harness.Store.UpdateAsync(tx => tx.Delete<SwarmTask>(removed.Id));
        var next = Pending(web, 4);
        await harness.CreateAsync(next);

        // node-a now runs no task of web and node-b one: the index followed the events.
        await harness.WaitAssignedAsync(next);
        Assert.Equal("node-a", harness.Get(next.Id).NodeId);
    }

    [Fact]
    public async Task Explanation_IsWrittenOnce_NotAtEveryPass()
    {
        var web = Objects.Service("web");
        await using var harness = await StartAsync(Node("node-a"));
        var task = Pending(web, 1, Constraints("node.labels.zone==eu"));
        await harness.CreateAsync(task);
        await harness.WaitErrorAsync(task, "no suitable node (scheduling constraints not satisfied on 1 node)");
        var version = harness.Get(task.Id).Meta.Version;

        await harness.WaitNextPassAsync(() => harness.ChangeNodeAsync("node-a", n => n.Spec.Annotations.Labels["rack"] = "1"));
        await harness.WaitNextPassAsync(() => harness.ChangeNodeAsync("node-a", n => n.Spec.Annotations.Labels["rack"] = "2"));

        Assert.Equal(version, harness.Get(task.Id).Meta.Version);
    }

    [Fact]
    public async Task TasksPendingAtStart_AreScheduledFromTheSnapshot()
    {
        var web = Objects.Service("web");
        var tasks = Enumerable.Range(1, 4).Select(slot => Pending(web, slot)).ToArray();
        await using var harness = await StartAsync([Node("node-a"), Node("node-b"), .. tasks]);

        await harness.WaitAssignedAsync(tasks);

        Assert.Equal(new Dictionary<string, int> { ["node-a"] = 2, ["node-b"] = 2 }, harness.CountByNode(tasks));
    }
}
