using Shoal.Api;

namespace Shoal.Agent.Executors;

/// <summary>A node's description (the host's, from <paramref name="host"/>) plus what the node's runtime offers.</summary>
/// <param name="executor">The runtime that describes itself.</param>
/// <param name="host">What the host is; the machine's own description by default.</param>
public sealed class ExecutorDescriptionProvider(IExecutor executor, NodeDescriptionProvider? host = null) : NodeDescriptionProvider
{
    private readonly NodeDescriptionProvider _host = host ?? new NodeDescriptionProvider();

    /// <inheritdoc/>
    public override NodeDescription Describe()
    {
        var description = _host.Describe();
        executor.Describe(description);
        return description;
    }
}
