using Shoal.Api;

namespace Shoal.Agent.Logs;

/// <summary>
/// Reads a task's output files (<c>&lt;tasks&gt;/&lt;task-id&gt;/stdout.log</c> and <c>stderr.log</c>) incrementally,
/// merging the streams by timestamp: each <see cref="Read"/> returns lines written since the previous one, oldest
/// first, lines of one stream staying in file order.
/// </summary>
public sealed class TaskLogReader
{
    /// <summary>The file a task's standard output is written to, in its directory.</summary>
    public const string StdoutFileName = "stdout.log";

    /// <summary>The file a task's standard error is written to, in its directory.</summary>
    public const string StderrFileName = "stderr.log";

    private const int ChunkLines = 256;
    private readonly LogFile[] _files;
    private readonly Queue<LogLine>[] _pending;
    private readonly List<LogLine> _chunk = [];

    /// <param name="taskDirectory">The task's directory (it may not exist yet).</param>
    /// <param name="streams">The streams to read; empty = both.</param>
    public TaskLogReader(string taskDirectory, IEnumerable<LogStream> streams)
    {
        ArgumentException.ThrowIfNullOrEmpty(taskDirectory);
        ArgumentNullException.ThrowIfNull(streams);
        var wanted = streams.Where(s => s is LogStream.Stdout or LogStream.Stderr).ToHashSet();
        if (wanted.Count == 0)
        {
            wanted = [LogStream.Stdout, LogStream.Stderr];
        }

        TaskDirectory = taskDirectory;
        _files = [.. wanted.Order().Select(s => new LogFile(Path.Combine(taskDirectory, s == LogStream.Stdout ? StdoutFileName : StderrFileName), s))];
        _pending = [.. _files.Select(_ => new Queue<LogLine>())];
    }

    /// <summary>The task's directory.</summary>
    public string TaskDirectory { get; }

    /// <summary>
    /// Appends to <paramref name="into"/> at most <paramref name="maxLines"/> lines written since the last call,
    /// merged by timestamp, and returns how many it appended (0 when nothing new was written).
    /// </summary>
    public int Read(List<LogLine> into, int maxLines)
    {
        ArgumentNullException.ThrowIfNull(into);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLines, 1);
        Span<bool> exhausted = stackalloc bool[_files.Length];
        var added = 0;
        while (added < maxLines)
        {
            var next = -1;
            for (var i = 0; i < _files.Length; i++)
            {
                if (_pending[i].Count == 0 && !exhausted[i])
                {
                    _chunk.Clear();
                    if (_files[i].Read(_chunk, ChunkLines) == 0)
                    {
                        exhausted[i] = true;
                    }

                    foreach (var line in _chunk)
                    {
                        _pending[i].Enqueue(line);
                    }
                }

                if (_pending[i].Count > 0 && (next < 0 || _pending[i].Peek().Timestamp < _pending[next].Peek().Timestamp))
                {
                    next = i;
                }
            }

            if (next < 0)
            {
                break;
            }

            into.Add(_pending[next].Dequeue());
            added++;
        }

        return added;
    }
}
