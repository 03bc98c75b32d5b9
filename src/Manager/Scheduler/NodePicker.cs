using Shoal.Api;

namespace Shoal.Manager.Scheduler;

/// <summary>
/// Chooses nodes for the tasks of one group among the nodes that passed the filters, in O(log N) per task: the
/// candidates sit in a priority queue ordered by (tasks of this service, tasks in total, node id), and only the node
/// just chosen changes its place. With placement preferences (<c>spread=node.labels.X</c>), a level of branches is put
/// in front, one branch per label value (a missing label is a value of its own); each task goes to the branch with the
/// fewest tasks of the service so far, as SwarmKit's decision tree spreads them.
/// </summary>
internal abstract class NodePicker
{
    /// <summary>Places <paramref name="task"/> on the best node that can still take it (<paramref name="assign"/>
    /// records it there) and returns that node, or null when no candidate can.</summary>
    public abstract NodeInfo? Place(SwarmTask task, FilterPipeline pipeline, Action<NodeInfo, SwarmTask> assign);

    /// <summary>Tasks of the service already on this picker's nodes, plus those placed by it.</summary>
    public abstract int ServiceTasks { get; }

    public static NodePicker Build(List<NodeInfo> candidates, IReadOnlyList<string> spreadDescriptors, string serviceId) =>
        Build(candidates, spreadDescriptors, 0, serviceId);

    /// <summary>The spread descriptors of <paramref name="placement"/> that name a label; others are ignored.</summary>
    public static IReadOnlyList<string> SpreadDescriptors(Placement? placement)
    {
        if (placement is null || placement.Preferences.Count == 0)
        {
            return [];
        }

        var descriptors = new List<string>();
        foreach (var preference in placement.Preferences)
        {
            var descriptor = preference.Spread?.SpreadDescriptor ?? string.Empty;
            if (LabelOf(descriptor, out _, out _))
            {
                descriptors.Add(descriptor);
            }
        }

        return descriptors;
    }

    private static NodePicker Build(List<NodeInfo> candidates, IReadOnlyList<string> descriptors, int level, string serviceId)
    {
        if (level == descriptors.Count)
        {
            return new Leaf(candidates, serviceId);
        }

        LabelOf(descriptors[level], out var engine, out var label);
        var byValue = new Dictionary<string, List<NodeInfo>>(StringComparer.Ordinal);
        foreach (var node in candidates)
        {
            var labels = engine ? node.Node.Description?.Engine?.Labels : node.Node.Spec?.Annotations?.Labels;
            var value = labels is not null && labels.TryGetValue(label, out var v) ? v : string.Empty;
            if (!byValue.TryGetValue(value, out var list))
            {
                byValue[value] = list = [];
            }

            list.Add(node);
        }

        var branches = new List<(string Value, NodePicker Child)>(byValue.Count);
        foreach (var (value, nodes) in byValue)
        {
            branches.Add((value, Build(nodes, descriptors, level + 1, serviceId)));
        }

        return new Branches(branches);
    }

    private static bool LabelOf(string descriptor, out bool engine, out string label)
    {
        const string nodeLabels = "node.labels.";
        const string engineLabels = "engine.labels.";
        engine = false;
        label = string.Empty;
        if (descriptor.StartsWith(nodeLabels, StringComparison.OrdinalIgnoreCase) && descriptor.Length > nodeLabels.Length)
        {
            label = descriptor[nodeLabels.Length..];
            return true;
        }

        if (descriptor.StartsWith(engineLabels, StringComparison.OrdinalIgnoreCase) && descriptor.Length > engineLabels.Length)
        {
            engine = true;
            label = descriptor[engineLabels.Length..];
            return true;
        }

        return false;
    }

    private readonly record struct Rank(int ServiceTasks, int Tasks, string Id);

    private sealed class RankComparer : IComparer<Rank>
    {
        public static readonly RankComparer Instance = new();

        public int Compare(Rank x, Rank y)
        {
            var c = x.ServiceTasks.CompareTo(y.ServiceTasks);
            if (c == 0)
            {
                c = x.Tasks.CompareTo(y.Tasks);
            }

            return c != 0 ? c : string.CompareOrdinal(x.Id, y.Id);
        }
    }

    private sealed class Leaf : NodePicker
    {
        private readonly PriorityQueue<NodeInfo, Rank> _queue;
        private readonly string _serviceId;
        private int _serviceTasks;

        public Leaf(List<NodeInfo> nodes, string serviceId)
        {
            _serviceId = serviceId;
            _queue = new PriorityQueue<NodeInfo, Rank>(nodes.Count, RankComparer.Instance);
            var items = new (NodeInfo, Rank)[nodes.Count];
            for (var i = 0; i < items.Length; i++)
            {
                items[i] = (nodes[i], RankOf(nodes[i]));
                _serviceTasks += items[i].Item2.ServiceTasks;
            }

            _queue.EnqueueRange(items);
        }

        public override int ServiceTasks => _serviceTasks;

        public override NodeInfo? Place(SwarmTask task, FilterPipeline pipeline, Action<NodeInfo, SwarmTask> assign)
        {
            while (_queue.TryDequeue(out var node, out _))
            {
                // The group's earlier tasks may have used up this node (resources, host ports, max replicas): such a
                // node only gets fuller during the pass, so it leaves the queue for good.
                if (pipeline.Check(node) is not null)
                {
                    continue;
                }

                assign(node, task);
                _serviceTasks++;
                _queue.Enqueue(node, RankOf(node));
                return node;
            }

            return null;
        }

        private Rank RankOf(NodeInfo node) => new(node.ActiveTasksOf(_serviceId), node.ActiveTasks, node.Id);
    }

    private sealed class Branches : NodePicker
    {
        private readonly PriorityQueue<NodePicker, (int ServiceTasks, string Value)> _queue;
        private int _serviceTasks;

        public Branches(List<(string Value, NodePicker Child)> branches)
        {
            _queue = new PriorityQueue<NodePicker, (int, string)>(branches.Count, Comparer<(int ServiceTasks, string Value)>.Create(static (x, y) =>
            {
                var c = x.ServiceTasks.CompareTo(y.ServiceTasks);
                return c != 0 ? c : string.CompareOrdinal(x.Value, y.Value);
            }));
            foreach (var (value, child) in branches)
            {
                _queue.Enqueue(child, (child.ServiceTasks, value));
                _serviceTasks += child.ServiceTasks;
            }
        }

        public override int ServiceTasks => _serviceTasks;

        public override NodeInfo? Place(SwarmTask task, FilterPipeline pipeline, Action<NodeInfo, SwarmTask> assign)
        {
            while (_queue.TryDequeue(out var child, out var key))
            {
                if (child.Place(task, pipeline, assign) is { } node)
                {
                    _serviceTasks++;
                    _queue.Enqueue(child, (child.ServiceTasks, key.Value));
                    return node;
                }

                // Nothing in this branch can take another task of the group: the other branches share the rest.
            }

            return null;
        }
    }
}
