using Shoal.Api;
using Shoal.TestKit;

namespace Shoal.Agent.Tests;

public sealed class AssignmentSinkTests
{
    private static readonly Service Web = Objects.Service();

    [Fact]
    public async Task ACompleteSet_ReplacesEverything_AndIncrementsApplyOnlyToTheSetTheyName()
    {
        var sink = new InMemoryAssignmentSink();
        var (a, b, c) = (Objects.Task(Web, 1), Objects.Task(Web, 2), Objects.Task(Web, 3));
        await sink.ApplyAsync(Message(AssignmentsType.AssignmentsComplete, "", "s.1", (a, AssignmentAction.Update), (b, AssignmentAction.Update)), default);
        await sink.ApplyAsync(Message(AssignmentsType.AssignmentsIncremental, "s.1", "s.2", (c, AssignmentAction.Update), (a, AssignmentAction.Remove)), default);

        Assert.Equal(new[] { b.Id, c.Id }.Order(StringComparer.Ordinal), sink.Tasks.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("s.2", sink.Version);

        var stale = Message(AssignmentsType.AssignmentsIncremental, "s.1", "s.3", (a, AssignmentAction.Update));
        var error = await Assert.ThrowsAsync<AssignmentSetMismatchException>(() => sink.ApplyAsync(stale, default).AsTask());
        Assert.Equal(("s.1", "s.2"), (error.AppliesTo, error.Current));
        Assert.Equal(new[] { b.Id, c.Id }.Order(StringComparer.Ordinal), sink.Tasks.Keys.Order(StringComparer.Ordinal));

        await sink.ApplyAsync(Message(AssignmentsType.AssignmentsComplete, "", "t.1", (a, AssignmentAction.Update)), default);
        Assert.Equal([a.Id], sink.Tasks.Keys);
        Assert.Equal(3, sink.MessagesApplied);
    }

    [Fact]
    public void TheHostDescription_HasAHostnameAPlatformAndResources()
    {
        var description = new NodeDescriptionProvider().Describe();

        Assert.False(string.IsNullOrEmpty(description.Hostname));
        Assert.Equal(NodeDescriptionProvider.OperatingSystemName(), description.Platform.Os);
        Assert.Equal(Environment.ProcessorCount * 1_000_000_000L, description.Resources.NanoCpus);
        Assert.True(description.Resources.MemoryBytes > 0);
        Assert.Matches(@"^\d+\.\d+\.\d+", description.Engine.EngineVersion);
        Assert.Equal("x86_64", NodeDescriptionProvider.ArchitectureName(System.Runtime.InteropServices.Architecture.X64));
        Assert.Equal("aarch64", NodeDescriptionProvider.ArchitectureName(System.Runtime.InteropServices.Architecture.Arm64));
    }

    private static AssignmentsMessage Message(AssignmentsType type, string appliesTo, string resultsIn, params (SwarmTask Task, AssignmentAction Action)[] changes)
    {
        var message = new AssignmentsMessage { Type = type, AppliesTo = appliesTo, ResultsIn = resultsIn };
        message.Changes.AddRange(changes.Select(c => new AssignmentChange { Assignment = new Assignment { Task = c.Task }, Action = c.Action }));
        return message;
    }
}
