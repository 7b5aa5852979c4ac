<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN" sourcelanguage="en">
  <context>
    <name>mrife</name>
    <message>
      <location filename="../catalogue.py" />
      <source>, test IoU {0}</source>
      <translation>，测试 IoU {0}</translation>
    </message>
    <message>
      <location filename="../catalogue.py" />
      <source>, {0} MiB</source>
      <translation>，{0} MiB</translation>
    </message>
    <message>
      <location filename="../catalogue.py" />
      <source>{0}: {1}/{2}, {3} bands, {4} px at {5} m</source>
      <translation>{0}：{1}/{2}，{3} 个波段，{4} 像素，{5} 米分辨率</translation>
    </message>
    <message>
      <location filename="../deps.py" />
      <source>Press 'Install packages...' below, or run in a terminal:</source>
      <translation>请点击下方的“安装依赖包...”，或在终端中运行：</translation>
    </message>
    <message>
      <location filename="../deps.py" />
      <source>installed but cannot be imported ({0})</source>
      <translation>已安装但无法导入（{0}）</translation>
    </message>
    <message>
      <location filename="../deps.py" />
      <source>not installed</source>
      <translation>未安装</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>Bands '{0}': give band numbers separated by commas, e.g. 3,2,1</source>
      <translation>波段“{0}”：请填写以逗号分隔的波段编号，例如 3,2,1</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>could not fetch layer '{0}' (QgsRasterFileWriter error {1})</source>
      <translation>无法读取图层“{0}”（QgsRasterFileWriter 错误 {1}）</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>could not open the result {0}</source>
      <translation>无法打开结果 {0}</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>could not read the polygons of '{0}': {1}</source>
      <translation>无法读取“{0}”的面要素：{1}</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>layer '{0}' has bands 1-{1}; band(s) {2} do not exist</source>
      <translation>图层“{0}”的波段为 1-{1}；波段 {2} 不存在</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>layer '{0}' holds no polygons; choose a polygon layer</source>
      <translation>图层“{0}”不含面要素；请选择一个面图层</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>layer '{0}' would be fetched at {1} x {2} px; zoom in or draw a smaller rectangle (at most {3} px a side)</source>
      <translation>图层“{0}”将以 {1} x {2} 像素读取；请放大地图或绘制更小的矩形（每边最多 {3} 像素）</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>no model given and the catalogue lists none; choose a model file (.pt) trained with the plugin or `python -m mrife train`</source>
      <translation>未指定模型，模型目录中也没有模型；请选择用本插件或 `python -m mrife train` 训练的模型文件（.pt）</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>no polygon of layer '{0}' is selected; select some or untick 'selected'</source>
      <translation>图层“{0}”中没有选中的面；请选择一些面，或取消勾选“仅选中”</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>the area does not overlap layer '{0}'</source>
      <translation>该范围与图层“{0}”不重叠</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>the catalogue's model is not on disk yet: run again to download it, or choose a model file (.pt)</source>
      <translation>模型目录中的模型尚未下载：请再次运行以下载，或选择一个模型文件（.pt）</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>the model download was cancelled; nothing was kept</source>
      <translation>模型下载已取消；未保留任何文件</translation>
    </message>
    <message>
      <location filename="../detection.py" />
      <source>{0} tile(s) of {1} px over {2} x {3} px at {4} m/px in {5}; about {6} on {7}</source>
      <translation>{0} 个图块（{1} 像素），覆盖 {2} x {3} 像素，分辨率 {4} 米/像素，坐标系 {5}；在 {7} 上约需 {6}</translation>
    </message>
    <message>
      <location filename="../gui/choices.py" />
      <source>auto (fastest accurate setting for the device)</source>
      <translation>自动（该设备上最快且准确的设置）</translation>
    </message>
    <message>
      <location filename="../gui/choices.py" />
      <source>auto: bfloat16 where the CPU or GPU computes it natively (about 2.5x faster, the same results within 0.001 IoU), else float32</source>
      <translation>自动：在 CPU 或 GPU 原生支持 bfloat16 时使用它（约快 2.5 倍，IoU 差异在 0.001 以内），否则使用 float32</translation>
    </message>
    <message>
      <location filename="../gui/choices.py" />
      <source>float16 (CUDA GPUs)</source>
      <translation>float16（CUDA GPU）</translation>
    </message>
    <message>
      <location filename="../gui/choices.py" />
      <source>float32 (no reduced precision)</source>
      <translation>float32（不降低精度）</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Area</source>
      <translation>范围</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Bands</source>
      <translation>波段</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <location filename="../gui/train_panel.py" />
      <location filename="../processing/alg_detect.py" />
      <location filename="../processing/alg_train.py" />
      <source>Batch size</source>
      <translation>批大小</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <location filename="../gui/train_panel.py" />
      <source>Cancel</source>
      <translation>取消</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Cancelling...</source>
      <translation>正在取消...</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Choose a model file (.pt).</source>
      <translation>请选择一个模型文件（.pt）。</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Choose the imagery layer to search.</source>
      <translation>请选择要检测的影像图层。</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <location filename="../gui/dock.py" />
      <source>Detect</source>
      <translation>检测</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Detection cancelled; nothing was written.</source>
      <translation>检测已取消；未写入任何文件。</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Detection failed: {0}</source>
      <translation>检测失败：{0}</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Draw rectangle</source>
      <translation>绘制矩形</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <location filename="../gui/train_panel.py" />
      <location filename="../processing/alg_detect.py" />
      <location filename="../processing/alg_evaluate.py" />
      <source>Imagery</source>
      <translation>影像</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Inside polygons of a layer</source>
      <translation>图层中的面要素内</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>MRIFE detection</source>
      <translation>MRIFE 检测</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>MRIFE detection on {0}</source>
      <translation>MRIFE 检测：{0}</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <location filename="../gui/train_panel.py" />
      <source>MRIFE models (*.pt)</source>
      <translation>MRIFE 模型 (*.pt)</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Minimum area</source>
      <translation>最小面积</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Model</source>
      <translation>模型</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Model file (.pt)</source>
      <translation>模型文件（.pt）</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>No model yet: choose a model file.</source>
      <translation>尚无模型：请选择一个模型文件。</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Not started.</source>
      <translation>未开始。</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Polygons</source>
      <translation>面图层</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <location filename="../gui/train_panel.py" />
      <source>Precision</source>
      <translation>数值精度</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Probability at or above which a pixel is landslide; "model's": the threshold chosen on validation when the model was trained (0.5 for older files)</source>
      <translation>像素被判为滑坡的概率下限；“模型自带”：训练时在验证集上选定的阈值（旧文件为 0.5）</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Rectangle drawn on the map</source>
      <translation>在地图上绘制的矩形</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Rescale values</source>
      <translation>重新拉伸数值</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Running: {0}</source>
      <translation>正在运行：{0}</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Save results in</source>
      <translation>结果保存到</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Stretch the imagery onto the model's value range: for imagery whose values differ from the training data's (16-bit imagery, an 8-bit model): each band's 0.5-99.5 % range is mapped onto the training data's</source>
      <translation>将影像拉伸到模型的数值范围：适用于数值与训练数据不同的影像（例如 16 位影像配 8 位模型）：每个波段 0.5-99.5 % 的范围被映射到训练数据的范围</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>The raster's bands for the model's bands, in the model's order, e.g. 3,2,1 for a BGR raster and an RGB model</source>
      <translation>按模型的波段顺序，为模型的每个波段指定栅格的波段，例如 BGR 栅格配 RGB 模型时填 3,2,1</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>This detection covers {0}. Start it?</source>
      <translation>本次检测包括 {0}。是否开始？</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Threshold</source>
      <translation>阈值</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Tile overlap (px)</source>
      <translation>图块重叠（像素）</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Visible map extent</source>
      <translation>当前地图范围</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>Whole layer</source>
      <translation>整个图层</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>a model file trained with the plugin</source>
      <translation>用本插件训练的模型文件</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>auto (a quarter tile)</source>
      <translation>自动（四分之一图块）</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>cannot create the results folder {0} ({1}); choose another in 'Save results in'</source>
      <translation>无法创建结果文件夹 {0}（{1}）；请在“结果保存到”中另选一个</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>choose a folder in 'Save results in': the project is not saved, so there is no project folder to keep the results in</source>
      <translation>请在“结果保存到”中选择文件夹：工程尚未保存，没有可存放结果的工程文件夹</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>choose the polygon layer that outlines the area</source>
      <translation>请选择圈定检测范围的面图层</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>draw a rectangle on the map first (Draw rectangle)</source>
      <translation>请先在地图上绘制矩形（绘制矩形）</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>model's</source>
      <translation>模型自带</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>native resolution</source>
      <translation>原始分辨率</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>only the selected polygons of the layer</source>
      <translation>仅使用图层中选中的面</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>selected</source>
      <translation>仅选中</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>the first ones (1, 2, 3)</source>
      <translation>前几个波段（1, 2, 3）</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>the project's folder</source>
      <translation>工程所在文件夹</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>{0} landslide polygon(s), {1} ha in all, {2} tiles in {3} s on {4}</source>
      <translation>{0} 个滑坡面，共 {1} 公顷；{2} 个图块，用时 {3} 秒，设备 {4}</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>{0} m/px</source>
      <translation>{0} 米/像素</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>{0}, {1} bands ({2}), {3} px tiles at {4}</source>
      <translation>{0}，{1} 个波段（{2}），{3} 像素图块，分辨率 {4}</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>{0}. Not on disk yet: downloaded and verified when you press Detect.</source>
      <translation>{0}。尚未下载：点击“检测”时下载并校验。</translation>
    </message>
    <message>
      <location filename="../gui/detect_panel.py" />
      <source>{0}: the area cannot be transformed to the layer's CRS ({1}); zoom to the layer or choose 'Whole layer'</source>
      <translation>{0}：该范围无法转换到图层的坐标参考系（{1}）；请缩放到该图层，或选择“整个图层”</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>Auto (GPU if available)</source>
      <translation>自动（有 GPU 时使用 GPU）</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>CPU</source>
      <translation>CPU</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>Compute device</source>
      <translation>计算设备</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>Diagnostics report written to {0}; attach it to your bug report</source>
      <translation>诊断报告已写入 {0}；请将其附在错误报告中</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>Diagnostics report...</source>
      <translation>诊断报告...</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>Install packages...</source>
      <translation>安装依赖包...</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>Install torch and torchvision for this QGIS, in a folder of the plugin's own</source>
      <translation>为此 QGIS 安装 torch 和 torchvision，装入插件专用的文件夹</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>Label</source>
      <translation>标注</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <location filename="../plugin.py" />
      <source>MRIFE relic landslides</source>
      <translation>MRIFE 古滑坡识别</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>Run on</source>
      <translation>运行于</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>Save diagnostics report</source>
      <translation>保存诊断报告</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>The deep-learning packages are not usable:
</source>
      <translation>深度学习依赖包不可用：
</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <location filename="../gui/train_panel.py" />
      <source>Train</source>
      <translation>训练</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>Will run on: {0}
torch {1}</source>
      <translation>将运行于：{0}
torch {1}</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>could not write the report to {0}: {1}</source>
      <translation>无法将报告写入 {0}：{1}</translation>
    </message>
    <message>
      <location filename="../gui/dock.py" />
      <source>{0} (not available)</source>
      <translation>{0}（不可用）</translation>
    </message>
    <message>
      <location filename="../gui/download.py" />
      <source>Downloading {0} ({1} MiB) from {2}; the run starts when it is verified.</source>
      <translation>正在从 {2} 下载 {0}（{1} MiB）；校验通过后开始运行。</translation>
    </message>
    <message>
      <location filename="../gui/download.py" />
      <source>download cancelled; nothing was kept</source>
      <translation>下载已取消；未保留任何文件</translation>
    </message>
    <message>
      <location filename="../gui/download.py" />
      <source>{0}: downloaded and verified ({1}).</source>
      <translation>{0}：已下载并校验（{1}）。</translation>
    </message>
    <message>
      <location filename="../gui/download.py" />
      <source>{0}: {1}</source>
      <translation>{0}：{1}</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>, torch {0} checked on {1}</source>
      <translation>，torch {0} 已在 {1} 上验证</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Automatic: {0} ({1})</source>
      <translation>自动：{0}（{1}）</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Build:</source>
      <translation>版本：</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>CPU only (works everywhere, slower)</source>
      <translation>仅 CPU（到处可用，较慢）</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Cancel installation</source>
      <translation>取消安装</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Delete {0} and everything the plugin installed there?</source>
      <translation>删除 {0} 以及插件安装在其中的所有内容？</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Install</source>
      <translation>安装</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Installed and checked. Restart QGIS to use it (an earlier failed import is still loaded).</source>
      <translation>已安装并验证。请重启 QGIS 后使用（之前失败的导入仍在内存中）。</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Installed and checked. torch works in QGIS now.</source>
      <translation>已安装并验证。torch 现在可以在 QGIS 中使用。</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Installed {0}: {1} build</source>
      <translation>已安装 {0}：{1} 版本</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>MRIFE: install torch and torchvision</source>
      <translation>MRIFE：安装 torch 和 torchvision</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>MRIFE: installing deep-learning packages</source>
      <translation>MRIFE：正在安装深度学习依赖包</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>NVIDIA GPU (CUDA 12)</source>
      <translation>NVIDIA GPU（CUDA 12）</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Nothing installed by the plugin yet.</source>
      <translation>插件尚未安装任何依赖包。</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Nothing to remove.</source>
      <translation>没有可删除的内容。</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Open full log</source>
      <translation>打开完整日志</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Remove installed packages</source>
      <translation>删除已安装的依赖包</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>Removed. Restart QGIS to unload torch.</source>
      <translation>已删除。请重启 QGIS 以卸载 torch。</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>The installation did not succeed: {0}</source>
      <translation>安装未成功：{0}</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>The plugin needs PyTorch (torch, torchvision). They are installed into a folder of the plugin's own, for this QGIS's Python only; nothing QGIS ships is changed (numpy and other compiled packages stay as they are).

Folder: {0}
A QGIS upgrade with a new Python gets a new folder: the plugin then offers this installation again.</source>
      <translation>本插件需要 PyTorch（torch、torchvision）。它们将安装到插件专用的文件夹中，仅供此 QGIS 的 Python 使用；QGIS 自带的任何内容都不会被改动（numpy 等编译包保持原样）。

文件夹：{0}
升级 QGIS 后若 Python 版本变化，将使用新的文件夹：届时插件会再次提供此安装。</translation>
    </message>
    <message>
      <location filename="../gui/install_dialog.py" />
      <source>the installation was cancelled</source>
      <translation>安装已取消</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>'{0}': {1} landslide and {2} 'not landslide' polygon(s).</source>
      <translation>“{0}”：{1} 个滑坡面和 {2} 个“非滑坡”面。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>; it is in editing mode: draw polygons, then save the edits (Ctrl+S).</source>
      <translation>；图层处于编辑状态：请绘制面，然后保存编辑（Ctrl+S）。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Accept selected</source>
      <translation>接受所选</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Author</source>
      <translation>标注者</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Choose (or create) the label layer to copy the polygons into.</source>
      <translation>请选择（或创建）要复制到的标注图层。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Choose a GeoPackage file for the labels (the project is not saved, so there is no project folder to default to).</source>
      <translation>请为标注选择一个 GeoPackage 文件（工程尚未保存，没有默认的工程文件夹）。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Choose the detection layer whose selected polygons you reviewed.</source>
      <translation>请选择你已审核过其选中面的检测结果图层。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Choose the imagery (with a CRS) the labels are for: the new layer takes its CRS.</source>
      <translation>请选择标注所对应的影像（需有坐标参考系）：新图层将采用其坐标参考系。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Copy the selected detection polygons into the label layer as 'landslide'</source>
      <translation>将选中的检测面复制到标注图层，类别为“滑坡”</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Create (or reopen) the landslide label layer and start digitising</source>
      <translation>创建（或重新打开）滑坡标注图层并开始数字化</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Create (or reopen) the layer where you outline the ground you have labelled completely</source>
      <translation>创建（或重新打开）用于圈出已完整标注区域的图层</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Create / open</source>
      <translation>创建 / 打开</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Created the layer '{0}' in {1}</source>
      <translation>已在 {1} 中创建图层“{0}”</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Detections</source>
      <translation>检测结果</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>GeoPackage</source>
      <translation>GeoPackage</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>GeoPackage (*.gpkg)</source>
      <translation>GeoPackage (*.gpkg)</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Imagery (CRS)</source>
      <translation>影像（坐标系）</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Into label layer</source>
      <translation>写入标注图层</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Label layer</source>
      <translation>标注图层</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Label layers</source>
      <translation>标注图层</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <location filename="../gui/train_panel.py" />
      <source>Mapped area</source>
      <translation>标注范围</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Mapped area '{0}': {1} polygon(s); outside them nothing is used as a negative example.</source>
      <translation>标注范围“{0}”：{1} 个面；范围以外的区域不作为负样本。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Mapped-area layer</source>
      <translation>标注范围图层</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>No label layer yet: press 'Label layer', then outline landslides (at least {0} for fine-tuning).</source>
      <translation>尚无标注图层：点击“标注图层”，然后勾绘滑坡轮廓（微调至少需要 {0} 个）。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>No mapped-area layer: training will take the whole raster as completely labelled (everything outside your landslide outlines is a negative example).</source>
      <translation>没有标注范围图层：训练会把整个栅格视为已完整标注（滑坡轮廓以外的一切都作为负样本）。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Opened the existing layer '{0}' in {1} (nothing overwritten)</source>
      <translation>已打开 {1} 中现有的图层“{0}”（未覆盖任何内容）</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Reject selected</source>
      <translation>拒绝所选</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Review detections</source>
      <translation>审核检测结果</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>Store the selected detection polygons in the label layer as 'not landslide' examples</source>
      <translation>将选中的检测面存入标注图层，作为“非滑坡”样本</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>The detections and the label layer are the same layer; choose the detection layer in 'Detections'.</source>
      <translation>检测结果与标注图层是同一个图层；请在“检测结果”中选择检测结果图层。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <location filename="../gui/train_panel.py" />
      <source>project folder/{0}</source>
      <translation>工程文件夹/{0}</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>the new layers take this raster's CRS</source>
      <translation>新图层采用该栅格的坐标参考系</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>your name (stored with each outline)</source>
      <translation>你的名字（随每个轮廓保存）</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>{0} polygon(s) from '{1}' accepted as landslides in '{2}'.</source>
      <translation>已将“{1}”中的 {0} 个面作为滑坡接受到“{2}”。</translation>
    </message>
    <message>
      <location filename="../gui/label_panel.py" />
      <source>{0} polygon(s) from '{1}' stored as 'not landslide' examples in '{2}'.</source>
      <translation>已将“{1}”中的 {0} 个面作为“非滑坡”样本存入“{2}”。</translation>
    </message>
    <message>
      <location filename="../gui/plot.py" />
      <source>epoch (0-{0})</source>
      <translation>轮次（0-{0}）</translation>
    </message>
    <message>
      <location filename="../gui/plot.py" />
      <source>grey: training loss per step; blue: mean loss per epoch (left axis); red: validation landslide IoU, green dashed: validation F1 (right axis, 0-1)</source>
      <translation>灰色：每步的训练损失；蓝色：每轮的平均损失（左轴）；红色：验证集滑坡 IoU，绿色虚线：验证集 F1（右轴，0-1）</translation>
    </message>
    <message>
      <location filename="../gui/plot.py" />
      <source>loss (epoch)</source>
      <translation>损失（每轮）</translation>
    </message>
    <message>
      <location filename="../gui/plot.py" />
      <source>loss (step)</source>
      <translation>损失（每步）</translation>
    </message>
    <message>
      <location filename="../gui/plot.py" />
      <source>val F1</source>
      <translation>验证 F1</translation>
    </message>
    <message>
      <location filename="../gui/plot.py" />
      <source>val IoU</source>
      <translation>验证 IoU</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>, about {0} left</source>
      <translation>，约剩 {0}</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>0: the base model's tile size (256 px from scratch)</source>
      <translation>0：使用基础模型的图块大小（从头训练时为 256 像素）</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>A model file</source>
      <translation>模型文件</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Advanced</source>
      <translation>高级</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Base model</source>
      <translation>基础模型</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Cancelling: saving a resumable checkpoint...</source>
      <translation>正在取消：保存可续训的检查点...</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Continue the cancelled run of this model from its resume file</source>
      <translation>从续训文件继续此模型已取消的训练</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Epoch {0}/{1}, step {2}/{3}</source>
      <translation>第 {0}/{1} 轮，第 {2}/{3} 步</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <location filename="../processing/alg_train.py" />
      <source>Epochs</source>
      <translation>训练轮数</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Freeze the encoder</source>
      <translation>冻结编码器</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>From scratch</source>
      <translation>从头训练</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Labels</source>
      <translation>标注</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <location filename="../processing/alg_train.py" />
      <source>Learning rate</source>
      <translation>学习率</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>MRIFE training {0}</source>
      <translation>MRIFE 训练 {0}</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Network</source>
      <translation>网络</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>No GPU: training goes on on the CPU, {0}</source>
      <translation>没有 GPU：训练将在 CPU 上进行，{0}</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Preparing tiles and measuring the speed on {0}...</source>
      <translation>正在准备图块并在 {0} 上测速...</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Resume the cancelled run</source>
      <translation>继续已取消的训练</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Save model as</source>
      <translation>模型另存为</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Start from</source>
      <translation>起点</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Steps per epoch</source>
      <translation>每轮步数</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>The best model so far is in {0}.</source>
      <translation>目前最好的模型在 {0} 中。</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>The catalogue model</source>
      <translation>模型目录中的模型</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>The catalogue model ({0})</source>
      <translation>模型目录中的模型（{0}）</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Tile size (px)</source>
      <translation>图块大小（像素）</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Train ASPP and the decoder only: faster, and safer with few labels</source>
      <translation>只训练 ASPP 和解码器：更快，标注较少时更稳妥</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Training cancelled; {0} keeps the run: keep 'Resume' ticked and press Train to continue it.</source>
      <translation>训练已取消；{0} 保存了本次训练：保持勾选“继续”并点击“训练”即可继续。</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Training failed: {0}</source>
      <translation>训练失败：{0}</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Training finished: {0} ({1})</source>
      <translation>训练完成：{0}（{1}）</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>Training: {0}</source>
      <translation>训练中：{0}</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>all tiles</source>
      <translation>全部图块</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>at most this many steps per epoch (0: every training tile once)</source>
      <translation>每轮最多训练的步数（0：每个训练图块各一次）</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>base model's</source>
      <translation>基础模型的</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>choose the base model file, or start from the catalogue model or from scratch</source>
      <translation>请选择基础模型文件，或从模型目录中的模型开始，或从头训练</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>choose where to save the new model (Save model as): the project is not saved, so there is no project folder to default to</source>
      <translation>请选择新模型的保存位置（模型另存为）：工程尚未保存，没有默认的工程文件夹</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>empty: the whole raster is taken as completely labelled</source>
      <translation>留空：把整个栅格视为已完整标注</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>layer '{0}' has unsaved edits; save them (Ctrl+S) so training sees your latest outlines</source>
      <translation>图层“{0}”有未保存的编辑；请保存（Ctrl+S），以便训练使用你最新的轮廓</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>tick the raster layers to train on (same bands)</source>
      <translation>勾选用于训练的栅格图层（波段须相同）</translation>
    </message>
    <message>
      <location filename="../gui/train_panel.py" />
      <source>{0}: {1} (best of {2} epoch(s)). It is now selected in the Detect tab.</source>
      <translation>{0}：{1}（{2} 轮中最佳）。它已在“检测”页中选中。</translation>
    </message>
    <message>
      <location filename="../label_inputs.py" />
      <source> ({0} feature(s) without a polygon area dropped)</source>
      <translation>（{0} 个没有面积的要素已剔除）</translation>
    </message>
    <message>
      <location filename="../label_inputs.py" />
      <source>; fine-tuning needs at least {0} (so that training and validation each see one). Outline more landslides, or accept detections into the label layer</source>
      <translation>；微调至少需要 {0} 个（使训练集和验证集各至少有一个）。请勾绘更多滑坡，或将检测结果接受到标注图层中</translation>
    </message>
    <message>
      <location filename="../label_inputs.py" />
      <source>features without a polygon area dropped from '{0}' (empty, points, lines or collapsed outlines): {1}</source>
      <translation>已从“{0}”中剔除没有面积的要素（空要素、点、线或退化的轮廓）：{1}</translation>
    </message>
    <message>
      <location filename="../label_inputs.py" />
      <source>invalid geometries repaired in '{0}': {1}</source>
      <translation>已修复“{0}”中的无效几何：{1}</translation>
    </message>
    <message>
      <location filename="../label_inputs.py" />
      <source>labels in '{0}' reprojected from {1} to the raster's {2}</source>
      <translation>“{0}”中的标注已从 {1} 重投影到栅格的 {2}</translation>
    </message>
    <message>
      <location filename="../label_inputs.py" />
      <source>layer '{0}' has {1} landslide polygon(s)</source>
      <translation>图层“{0}”有 {1} 个滑坡面</translation>
    </message>
    <message>
      <location filename="../labels.py" />
      <source>cannot open the new layer '{0}' in {1}</source>
      <translation>无法打开 {1} 中的新图层“{0}”</translation>
    </message>
    <message>
      <location filename="../labels.py" />
      <source>cannot write {0}: {1}; choose a folder you can write to</source>
      <translation>无法写入 {0}：{1}；请选择你有写权限的文件夹</translation>
    </message>
    <message>
      <location filename="../labels.py" />
      <source>class must be one of {0}</source>
      <translation>类别必须是 {0} 之一</translation>
    </message>
    <message>
      <location filename="../labels.py" />
      <source>could not add the features to '{0}'</source>
      <translation>无法将要素添加到“{0}”</translation>
    </message>
    <message>
      <location filename="../labels.py" />
      <source>could not save '{0}': {1}</source>
      <translation>无法保存“{0}”：{1}</translation>
    </message>
    <message>
      <location filename="../labels.py" />
      <source>no features in layer '{0}'</source>
      <translation>图层“{0}”中没有要素</translation>
    </message>
    <message>
      <location filename="../labels.py" />
      <source>no selected features in layer '{0}': select the polygons to accept first</source>
      <translation>图层“{0}”中没有选中的要素：请先选择要接受的面</translation>
    </message>
    <message>
      <location filename="../labels.py" />
      <source>no selected features in layer '{0}': select the polygons to reject first</source>
      <translation>图层“{0}”中没有选中的要素：请先选择要拒绝的面</translation>
    </message>
    <message>
      <location filename="../labels.py" />
      <source>{0} has a '{1}' layer that is not polygons; choose another GeoPackage</source>
      <translation>{0} 中的“{1}”图层不是面图层；请另选一个 GeoPackage</translation>
    </message>
    <message>
      <location filename="../log.py" />
      <source>{0} h</source>
      <translation>{0} 小时</translation>
    </message>
    <message>
      <location filename="../log.py" />
      <source>{0} min</source>
      <translation>{0} 分钟</translation>
    </message>
    <message>
      <location filename="../log.py" />
      <source>{0} s</source>
      <translation>{0} 秒</translation>
    </message>
    <message>
      <location filename="../plugin.py" />
      <source>&amp;MRIFE relic landslides</source>
      <translation>&amp;MRIFE 古滑坡识别</translation>
    </message>
    <message>
      <location filename="../plugin.py" />
      <source>Install deep-learning packages...</source>
      <translation>安装深度学习依赖包...</translation>
    </message>
    <message>
      <location filename="../plugin.py" />
      <source>Label, fine-tune and detect relic landslides</source>
      <translation>标注、微调并检测古滑坡</translation>
    </message>
    <message>
      <location filename="../plugin.py" />
      <source>Write diagnostics report...</source>
      <translation>生成诊断报告...</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Allow runs over {0} tiles (Processing cannot ask; without it such a run is refused with its estimate)</source>
      <translation>允许超过 {0} 个图块的运行（处理工具无法询问；不勾选时，此类运行会连同其预估被拒绝）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Bands for the model, in order (default: the first ones)</source>
      <translation>模型使用的波段，按顺序（默认：前几个波段）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>CRS of the polygons (default: the project's)</source>
      <translation>面的坐标参考系（默认：工程的）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Detect relic landslides</source>
      <translation>检测古滑坡</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <location filename="../processing/alg_train.py" />
      <source>Device (auto, cpu, cuda:N; empty: the panel's choice)</source>
      <translation>设备（auto、cpu、cuda:N；留空：面板中的选择）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Extent (default: the whole layer)</source>
      <translation>范围（默认：整个图层）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Landslide polygons</source>
      <translation>滑坡面</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Landslide probability</source>
      <translation>滑坡概率</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Minimum polygon area (m²)</source>
      <translation>最小面积（m²）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Model file (empty: the catalogue's model, downloaded once if needed)</source>
      <translation>模型文件（留空：模型目录中的模型，需要时下载一次）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Number of polygons</source>
      <translation>面的数量</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Probability threshold (0: the model's own, chosen on validation in training)</source>
      <translation>概率阈值（0：模型自带的，训练时在验证集上选定）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Rescale imagery to the model's value range</source>
      <translation>将影像拉伸到模型的数值范围</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Runs a MRIFE (or ICSSN / DeepLabv3+) model over a raster and returns landslide polygons, styled by mean probability, and a probability map.&lt;br&gt;&lt;br&gt;The model file fixes the bands, ground resolution, tile size and preprocessing; leave &lt;i&gt;Model&lt;/i&gt; empty for the bundled model. Rasters in a geographic CRS are processed in the UTM zone of the area. Overlapping tiles are blended so no seams remain. Polygons carry id, mean and max probability, area (m²), perimeter (m), model name and checksum, source layer and creation time, and a &lt;i&gt;review&lt;/i&gt; field for your verdict.&lt;br&gt;&lt;br&gt;&lt;b&gt;Area&lt;/b&gt;: the extent, and/or polygons (tick 'Selected features only' to use the selection). &lt;b&gt;Rescale&lt;/b&gt;: stretch imagery whose values differ from the training data's (e.g. 16-bit imagery for an 8-bit model).</source>
      <translation>用 MRIFE（或 ICSSN / DeepLabv3+）模型扫描栅格，输出按平均概率着色的滑坡面和一张概率图。&lt;br&gt;&lt;br&gt;模型文件决定波段、地面分辨率、图块大小和预处理；&lt;i&gt;模型&lt;/i&gt;留空则使用自带模型。地理坐标系的栅格在该区域所在的 UTM 带中处理。重叠的图块经过融合，不留接缝。每个面带有编号、平均和最大概率、面积（m²）、周长（m）、模型名称和校验和、来源图层和创建时间，以及供你填写判定的 &lt;i&gt;review&lt;/i&gt; 字段。&lt;br&gt;&lt;br&gt;&lt;b&gt;范围&lt;/b&gt;：范围框和/或面要素（勾选“仅选中要素”以使用选择集）。&lt;b&gt;重新拉伸&lt;/b&gt;：拉伸数值与训练数据不同的影像（例如 8 位模型配 16 位影像）。</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Search only inside these polygons</source>
      <translation>仅在这些面内检测</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Test-time augmentation: average each tile over its flips (4x the time)</source>
      <translation>测试时增强：每个图块在其翻转上取平均（耗时 4 倍）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Tile overlap in pixels (-1: a quarter tile)</source>
      <translation>图块重叠像素数（-1：四分之一图块）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>Total area (m²)</source>
      <translation>总面积（m²）</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>cancelled: nothing was written</source>
      <translation>已取消：未写入任何文件</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>choose the imagery layer to search</source>
      <translation>请选择要检测的影像图层</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>the polygons are written to a GeoPackage; name the output *.gpkg, not {0}</source>
      <translation>面要素写入 GeoPackage；请将输出命名为 *.gpkg，而不是 {0}</translation>
    </message>
    <message>
      <location filename="../processing/alg_detect.py" />
      <source>the probability map is a GeoTIFF; name it *.tif, not {0}</source>
      <translation>概率图是 GeoTIFF；请命名为 *.tif，而不是 {0}</translation>
    </message>
    <message>
      <location filename="../processing/alg_device.py" />
      <source>Device</source>
      <translation>设备</translation>
    </message>
    <message>
      <location filename="../processing/alg_device.py" />
      <source>Device information</source>
      <translation>设备信息</translation>
    </message>
    <message>
      <location filename="../processing/alg_device.py" />
      <source>Says which device (GPU or CPU) MRIFE will run on for a device choice (auto, cpu, cuda:N), and which torch it found.</source>
      <translation>对给定的设备选择（auto、cpu、cuda:N），说明 MRIFE 将运行在哪个设备（GPU 或 CPU）上，以及找到的 torch 版本。</translation>
    </message>
    <message>
      <location filename="../processing/alg_device.py" />
      <source>torch {0}; device: {1}</source>
      <translation>torch {0}；设备：{1}</translation>
    </message>
    <message>
      <location filename="../processing/alg_evaluate.py" />
      <source>Device (empty: the panel's choice)</source>
      <translation>设备（留空：面板中的选择）</translation>
    </message>
    <message>
      <location filename="../processing/alg_evaluate.py" />
      <source>Evaluate a model against labels</source>
      <translation>用标注评估模型</translation>
    </message>
    <message>
      <location filename="../processing/alg_evaluate.py" />
      <source>Evaluate only inside (mapped area)</source>
      <translation>仅在此范围内评估（标注范围）</translation>
    </message>
    <message>
      <location filename="../processing/alg_evaluate.py" />
      <location filename="../processing/labelled.py" />
      <source>Fine-tuning</source>
      <translation>微调</translation>
    </message>
    <message>
      <location filename="../processing/alg_evaluate.py" />
      <source>Metrics (JSON)</source>
      <translation>指标（JSON）</translation>
    </message>
    <message>
      <location filename="../processing/alg_evaluate.py" />
      <source>Model file (empty: the bundled model)</source>
      <translation>模型文件（留空：自带模型）</translation>
    </message>
    <message>
      <location filename="../processing/alg_evaluate.py" />
      <source>Runs detection with the model over the raster (inside the mapped area when given) and compares the result with the label layer's landslide polygons, pixel by pixel on the raster's grid: PA, precision, recall, F1, landslide IoU, mIoU (MRIFE eqs. 9-14) and object accuracy (share of labelled landslides covered at least half). Writes them to a JSON file.</source>
      <translation>用模型在栅格上运行检测（给定标注范围时仅在其内），并在栅格网格上逐像素与标注图层的滑坡面比较：总体精度 PA、精确率、召回率、F1、滑坡 IoU、mIoU（MRIFE 公式 9-14）以及目标准确率（至少被覆盖一半的已标注滑坡所占比例）。结果写入 JSON 文件。</translation>
    </message>
    <message>
      <location filename="../processing/alg_evaluate.py" />
      <source>cancelled</source>
      <translation>已取消</translation>
    </message>
    <message>
      <location filename="../processing/alg_evaluate.py" />
      <source>landslide IoU {0:.3f}, F1 {1:.3f}, precision {2:.3f}, recall {3:.3f}, object accuracy {4:.2f} ({5}/{6})</source>
      <translation>滑坡 IoU {0:.3f}，F1 {1:.3f}，精确率 {2:.3f}，召回率 {3:.3f}，目标准确率 {4:.2f}（{5}/{6}）</translation>
    </message>
    <message>
      <location filename="../processing/alg_export_tiles.py" />
      <source>Export training tiles</source>
      <translation>导出训练图块</translation>
    </message>
    <message>
      <location filename="../processing/alg_export_tiles.py" />
      <source>Ground resolution (m/pixel; 0: the raster's)</source>
      <translation>地面分辨率（米/像素；0：栅格原始分辨率）</translation>
    </message>
    <message>
      <location filename="../processing/alg_export_tiles.py" />
      <source>Positive : negative tiles</source>
      <translation>正 : 负样本图块</translation>
    </message>
    <message>
      <location filename="../processing/alg_export_tiles.py" />
      <source>Tile folder</source>
      <translation>图块文件夹</translation>
    </message>
    <message>
      <location filename="../processing/alg_export_tiles.py" />
      <source>Tile size (pixels)</source>
      <translation>图块大小（像素）</translation>
    </message>
    <message>
      <location filename="../processing/alg_export_tiles.py" />
      <source>Tiles written</source>
      <translation>已写入的图块</translation>
    </message>
    <message>
      <location filename="../processing/alg_export_tiles.py" />
      <source>Writes the tiles training would use as GeoTIFF image/mask pairs: &lt;folder&gt;/&lt;train|val|test&gt;/images and masks (mask 1 landslide, 0 background, 255 not labelled). Positive tiles around landslides, negatives from labelled ground at the chosen ratio.</source>
      <translation>将训练会使用的图块写为 GeoTIFF 影像/掩膜对：&lt;folder&gt;/&lt;train|val|test&gt;/images 和 masks（掩膜 1 为滑坡，0 为背景，255 为未标注）。正样本图块取自滑坡周围，负样本按所选比例取自已标注的地面。</translation>
    </message>
    <message>
      <location filename="../processing/alg_export_tiles.py" />
      <source>cannot write tiles to {0}: {1}</source>
      <translation>无法将图块写入 {0}：{1}</translation>
    </message>
    <message>
      <location filename="../processing/alg_export_tiles.py" />
      <source>tiles per split: {0}</source>
      <translation>各数据划分的图块数：{0}</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Architecture (from scratch)</source>
      <translation>网络结构（从头训练时）</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Backbone (from scratch)</source>
      <translation>骨干网络（从头训练时）</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Base model (empty: the catalogue's model, downloaded once if needed)</source>
      <translation>基础模型（留空：模型目录中的模型，需要时下载一次）</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Fine-tune a model on your labels</source>
      <translation>用你的标注微调模型</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Freeze the encoder (train the decoder only)</source>
      <translation>冻结编码器（只训练解码器）</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>New model file</source>
      <translation>新模型文件</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Resume a cancelled run of this output</source>
      <translation>继续此输出已取消的训练</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Share of blocks held out as a test split (0: none; you evaluate on your own polygons)</source>
      <translation>留作测试集的空间块比例（0：不留；你在自己的面上评估）</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Start from scratch (ignore the base model)</source>
      <translation>从头训练（忽略基础模型）</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Steps per epoch at most (0: all tiles)</source>
      <translation>每轮最多步数（0：全部图块）</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Tile size in pixels (0: the base model's, or 256)</source>
      <translation>图块大小（像素；0：基础模型的，或 256）</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Trains a landslide model on raster layers and a label layer (polygons with a 'class' field: 'landslide' or 'not landslide'; a layer without it is all landslides). Inside the mapped-area polygons (default: the whole raster), ground that is not a landslide is a negative example. Starts from the bundled model (or another model file) or from scratch. The raster is cut into spatial blocks split 8:2 into training and validation (no test share: evaluate on your own polygons with 'Evaluate detections'); the best epoch and the decision threshold are chosen on validation. Cancelling keeps &lt;output&gt;.resume.pt; run again with 'Resume' to continue.</source>
      <translation>在栅格图层和标注图层（带“class”字段的面：“landslide”或“not landslide”；没有该字段的图层全部视为滑坡）上训练滑坡模型。在标注范围的面内（默认：整个栅格），不是滑坡的地面作为负样本。可从自带模型（或其他模型文件）开始，也可从头训练。栅格被切成空间块，按 8:2 划分为训练集和验证集（不留测试集：请用“评估检测结果”在你自己的面上评估）；最佳轮次和判定阈值在验证集上选定。取消后保留 &lt;output&gt;.resume.pt；勾选“继续”再次运行即可继续。</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Validation F1</source>
      <translation>验证集 F1</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>Validation landslide IoU</source>
      <translation>验证集滑坡 IoU</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>cancelled; {0} keeps the run: tick 'Resume' to continue it</source>
      <translation>已取消；{0} 保存了本次训练：勾选“继续”即可继续</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>completed or cancelled</source>
      <translation>已完成或已取消</translation>
    </message>
    <message>
      <location filename="../processing/alg_train.py" />
      <source>model written to {0}: {1}</source>
      <translation>模型已写入 {0}：{1}</translation>
    </message>
    <message>
      <location filename="../processing/labelled.py" />
      <source>Imagery (one or more raster layers)</source>
      <translation>影像（一个或多个栅格图层）</translation>
    </message>
    <message>
      <location filename="../processing/labelled.py" />
      <source>Mapped area (completely labelled ground)</source>
      <translation>标注范围（已完整标注的地面）</translation>
    </message>
    <message>
      <location filename="../processing/params.py" />
      <source>Label layer (landslide polygons)</source>
      <translation>标注图层（滑坡面）</translation>
    </message>
    <message>
      <location filename="../processing/params.py" />
      <source>Precision (auto: bfloat16 where the CPU or GPU computes it natively)</source>
      <translation>数值精度（auto：在 CPU 或 GPU 原生支持时使用 bfloat16）</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>, </source>
      <translation>，</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>; compute: {0}</source>
      <translation>；计算：{0}</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>; expected time about {0} on {1} ({2} s per step)</source>
      <translation>；在 {1} 上预计约需 {0}（每步 {2} 秒）</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>; no validation tiles (the labelled area is too small to hold out a block): the last epoch is kept, without metrics. Label a larger area for a measured model</source>
      <translation>；没有验证图块（标注区域太小，无法留出一个空间块）：保留最后一轮，没有指标。标注更大的区域才能得到有度量的模型</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>F1 {0}</source>
      <translation>F1 {0}</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>about {0} left</source>
      <translation>约剩 {0}</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>architecture {0}/{1}: {2}</source>
      <translation>网络结构 {0}/{1}：{2}</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>base model: {0}</source>
      <translation>基础模型：{0}</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>cannot write to {0} ({1}); choose a folder you can write to for the model file</source>
      <translation>无法写入 {0}（{1}）；请为模型文件选择一个你有写权限的文件夹</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>choose at least one raster layer to train on</source>
      <translation>请至少选择一个用于训练的栅格图层</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>choose the label layer (landslide polygons)</source>
      <translation>请选择标注图层（滑坡面）</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>epoch {0}/{1}</source>
      <translation>第 {0}/{1} 轮</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>layer '{0}' has no CRS; set it (Layer Properties &gt; Source) before training</source>
      <translation>图层“{0}”没有坐标参考系；请在训练前设置（图层属性 &gt; 源）</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>layer '{0}' has {1} band(s); the base model needs {2}. Choose a raster with {3} bands or start from scratch</source>
      <translation>图层“{0}”有 {1} 个波段；基础模型需要 {2} 个。请选择有 {3} 个波段的栅格，或从头训练</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>layer '{0}' is a {1} layer; training reads files: save it with Export &gt; Save As... (GeoTIFF) and use that layer</source>
      <translation>图层“{0}”是 {1} 图层；训练读取的是文件：请用“导出 &gt; 另存为...”（GeoTIFF）保存后使用该图层</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>loss {0}</source>
      <translation>损失 {0}</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>name the model file *.pt, not {0}</source>
      <translation>模型文件应命名为 *.pt，而不是 {0}</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>no validation tiles: no metrics</source>
      <translation>没有验证图块：没有指标</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>the catalogue's base model is not on disk yet: download it first (the Train tab does so when you press Train), choose a model file or start from scratch</source>
      <translation>模型目录中的基础模型尚未下载：请先下载（在“训练”页点击“训练”时会自动下载），或选择模型文件，或从头训练</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>validation landslide IoU {0}</source>
      <translation>验证集滑坡 IoU {0}</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>validation landslide IoU {0}, F1 {1}, precision {2}, recall {3}</source>
      <translation>验证集滑坡 IoU {0}，F1 {1}，精确率 {2}，召回率 {3}</translation>
    </message>
    <message>
      <location filename="../training.py" />
      <source>{0} training step(s) ({1} epoch(s) of {2}, {3} training and {4} validation tiles)</source>
      <translation>{0} 个训练步（{1} 轮，每轮 {2} 步；{3} 个训练图块和 {4} 个验证图块）</translation>
    </message>
  </context>
</TS>
