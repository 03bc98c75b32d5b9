using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Api;

namespace Shoal.Agent;

/// <summary>
/// The worker's task database (DESIGN §9), <c>&lt;data-dir&gt;/worker/tasks/&lt;task-id&gt;.task</c>: every task this
/// node knows, as last assigned, with the status it last reported. Each record is replaced atomically (a 0600 temporary
/// file, synced, then renamed), so a crash leaves the old record or the new one, never half of one. A restarted agent
/// loads it so that it neither loses a task nor moves one back to an earlier state.
/// </summary>
public sealed partial class TaskDb
{
    private const string Extension = ".task";
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly string _directory;
    private readonly ILogger _logger;

    /// <param name="workerDirectory">The worker's directory, <c>&lt;data-dir&gt;/worker</c>; created when missing.</param>
    /// <param name="logger">Where to log records that cannot be read.</param>
    public TaskDb(string workerDirectory, ILogger<TaskDb>? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(workerDirectory);
        _directory = Path.Combine(workerDirectory, "tasks");
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Every task recorded. A record that cannot be read is set aside (renamed <c>*.corrupt</c>) and logged.</summary>
    public IReadOnlyList<SwarmTask> Load()
    {
        if (!Directory.Exists(_directory))
        {
            return [];
        }

        var tasks = new List<SwarmTask>();
        foreach (var path in Directory.EnumerateFiles(_directory, "*" + Extension))
        {
            try
            {
                tasks.Add(SwarmTask.Parser.ParseFrom(File.ReadAllBytes(path)));
            }
            catch (Exception e) when (e is InvalidProtocolBufferException or IOException)
            {
                LogCorrupt(_logger, path, e.Message);
                File.Move(path, path + ".corrupt", overwrite: true);
            }
        }

        return tasks;
    }

    /// <summary>Records <paramref name="task"/> (with its status as this node last reported it), replacing its record.</summary>
    public void Save(SwarmTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(_directory);
        }
        else
        {
            Directory.CreateDirectory(_directory, PrivateDirectory);
        }

        var path = PathOf(task.Id);
        var temporary = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = PrivateFile;
        }

        using (var stream = new FileStream(temporary, options))
        {
            task.WriteTo(stream);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Forgets a task; nothing happens when it is not recorded.</summary>
    public void Delete(string taskId) => File.Delete(PathOf(taskId));

    private string PathOf(string taskId) => Path.Combine(_directory, Executors.Process.TaskIds.Require(taskId) + Extension);

    [LoggerMessage(EventId = 6120, Level = LogLevel.Error, Message = "Task record {Path} cannot be read ({Reason}); set aside as *.corrupt, the task is forgotten")]
    private static partial void LogCorrupt(ILogger logger, string path, string reason);
}
