"""The dock's Label and Train tabs, driven through their widgets in headless QGIS on the bundled
sample (real pixels): create the label layers, accept reviewed polygons, press Train, watch the
task, cancel and resume, and find the new model selected in the Detect tab. Also: a disk that
fills up during training leaves the last good checkpoint intact."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import pytest
import torch
from qgis.core import QgsProcessingException, QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QCoreApplication

from mrife.events import Epoch, Step
from mrife_qgis import labels as lab
from mrife_qgis.gui.choices import select

from .conftest import sample_outlines
from .test_finetune import run


def _wait(panel, seconds: float = 300.0) -> None:
    end = time.monotonic() + seconds
    while panel.task is not None and time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert panel.task is None, "training task did not finish"
    QCoreApplication.processEvents()


@pytest.fixture
def dock(plugin, sample_layer):
    plugin.action.trigger()
    d = plugin.dock
    d.deviceCombo.setCurrentIndex(d.deviceCombo.findData("cpu"))
    return d


def _outlines(folder) -> QgsVectorLayer:
    src = QgsVectorLayer(str(sample_outlines(folder)), "reviewed", "ogr")
    QgsProject.instance().addMapLayer(src)
    return src


def test_label_tab_creates_reopens_and_fills_label_layers(dock, sample_layer, tmp_path):
    panel = dock.labelPanel
    panel.rasterCombo.setLayer(sample_layer)
    gpkg = tmp_path / "my_labels.gpkg"
    panel.gpkgWidget.setFilePath(str(gpkg))
    panel.author.setText("A. Mapper")
    panel.newLabelsButton.click()
    labels = panel.labelCombo.currentLayer()
    assert labels is not None and labels.isEditable()
    assert labels.crs() == sample_layer.crs() and labels.id() in QgsProject.instance().mapLayers()
    assert labels.source().startswith(str(gpkg))
    assert dock.trainPanel.labelCombo.currentLayer() is labels
    assert dock.trainPanel.rasters() == [sample_layer]
    assert "No mapped-area layer: training will take the whole raster" in panel.summary.text()
    # review loop: accept three selected polygons, reject one
    src = _outlines(tmp_path)
    panel.detectionCombo.setLayer(src)
    ids = sorted(f.id() for f in src.getFeatures())
    src.selectByIds(ids[:3])
    panel.acceptButton.click()
    src.selectByIds(ids[3:4])
    panel.rejectButton.click()
    assert "1 polygon(s) from 'reviewed' stored as 'not landslide'" in panel.last_message
    assert labels.commitChanges()
    got = sorted((f["class"], f["author"]) for f in labels.getFeatures())
    assert got == [(lab.LANDSLIDE, "A. Mapper")] * 3 + [(lab.NOT_LANDSLIDE, "A. Mapper")]
    assert "3 landslide and 1 'not landslide' polygon(s)" in panel.summary.text()
    # nothing selected: a message, not an exception
    src.removeSelection()
    assert panel.review(lab.LANDSLIDE) == 0 and "no selected features" in panel.last_message
    # the mapped-area layer; pressing "Label layer" again reopens, never overwrites
    panel.newAreaButton.click()
    area = panel.areaCombo.currentLayer()
    assert area is not None and area.isEditable() and area.name() == "mapped area"
    assert dock.trainPanel.areaCombo.currentLayer() is area
    assert "Mapped area 'mapped area': 0 polygon(s)" in panel.summary.text()
    area.rollBack()
    panel.newLabelsButton.click()
    assert "Opened the existing layer" in panel.last_message
    assert panel.labelCombo.currentLayer().featureCount() == 4


def test_label_tab_needs_a_raster_and_a_file(dock, tmp_path):
    panel = dock.labelPanel
    panel.rasterCombo.setLayer(None)
    assert panel.new_label_layer() is None and "Choose the imagery" in panel.last_message


def _fill_train_tab(dock, sample_layer, label_layer, scene_model, out: Path, epochs: int):
    panel = dock.trainPanel
    panel.set_rasters([sample_layer])
    panel.labelCombo.setLayer(label_layer)
    panel.areaCombo.setLayer(None)
    select(panel.startCombo, "file")
    panel.baseWidget.setFilePath(str(scene_model))
    panel.epochs.setValue(epochs)
    panel.batch.setValue(2)
    panel.steps.setValue(2)
    panel.freeze.setChecked(True)
    panel.outWidget.setFilePath(str(out))
    return panel


def test_train_tab_runs_a_task_and_hands_the_model_to_detect(dock, sample_layer, label_layer,
                                                             scene_model, tmp_path):
    out = tmp_path / "dock_model.pt"
    panel = _fill_train_tab(dock, sample_layer, label_layer, scene_model, out, epochs=2)
    events = []
    panel.trainButton.click()
    assert panel.task is not None and not panel.trainButton.isEnabled()
    panel.task.reported.connect(events.append)
    _wait(panel)
    assert sum(isinstance(e, Epoch) for e in events) == 2
    log = "\n".join(panel.log_lines)
    assert "15 landslide polygon(s)" in log and "no mapped-area layer" in log
    assert "expected time about" in log and "on CPU" in log
    assert "no GPU in use" in log
    assert panel.progress.value() == 100
    # the plot holds what the task reported: 2 steps x 2 epochs of loss, a point per epoch
    assert len(panel.plot.data["loss (step)"]) == 4
    val = [y for _x, y in panel.plot.data["val IoU"]]
    assert len(val) == 2
    panel.plot.resize(400, 200)
    image = panel.plot.grab().toImage()
    colours = {image.pixelColor(x, y).name() for x in range(0, 400, 2) for y in range(0, 200, 2)}
    assert {"#d62728", "#1f77b4"} <= colours            # the IoU and epoch-loss lines are drawn
    meta = torch.load(out, weights_only=False)
    assert meta["metrics"]["iou_landslide"] == pytest.approx(max(val))
    assert f"validation landslide IoU {max(val):.3f}" in panel.result.text()
    assert meta["training_data"]["landslide_polygons"] == 15
    assert meta["data_contract"]["ground_resolution"] == 2.0
    assert meta["train_config"]["init_from"] == str(scene_model)
    # the new model is selected in the Detect tab at once
    assert dock.detectPanel.model_path() == out
    assert "deeplabv3plus" in dock.detectPanel.modelInfo.text()
    assert not out.with_suffix(".resume.pt").exists() and not panel.resume.isEnabled()


def test_train_tab_cancel_keeps_a_resumable_run(dock, sample_layer, label_layer, scene_model,
                                                tmp_path):
    out = tmp_path / "cut.pt"
    panel = _fill_train_tab(dock, sample_layer, label_layer, scene_model, out, epochs=2)
    assert panel.start()
    cancelled = []

    def cancel_at_first_step(ev):
        if isinstance(ev, Step) and not cancelled:
            cancelled.append(ev.global_step)
            panel.cancelButton.click()

    panel.task.reported.connect(cancel_at_first_step)
    _wait(panel)
    assert cancelled and "Training cancelled; cut.resume.pt keeps the run" in panel.last_message
    resume = out.with_suffix(".resume.pt")
    state = torch.load(resume, weights_only=False)
    assert 1 <= state["resume"]["global_step"] < 4
    assert panel.resume.isEnabled() and panel.resume.isChecked()
    assert panel.start()
    _wait(panel)
    assert "Training finished" in panel.last_message
    assert not resume.exists() and out.exists()
    assert len(torch.load(out, weights_only=False)["training_data"]["split"]["train"]) > 0


def test_unloading_the_plugin_mid_training_stops_the_task_cleanly(
        plugin, dock, sample_layer, label_layer, scene_model, tmp_path):
    out = tmp_path / "gone.pt"
    panel = _fill_train_tab(dock, sample_layer, label_layer, scene_model, out, epochs=3)
    assert panel.start()
    work = panel.task.workdir
    plugin.unload()
    from qgis.core import QgsApplication

    manager = QgsApplication.taskManager()
    end = time.monotonic() + 120
    while manager.countActiveTasks() and time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert manager.countActiveTasks() == 0
    assert not work.exists()
    assert not out.exists()                     # stopped before its first epoch ended
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_train_tab_bad_input_is_a_message(dock, sample_layer, label_layer, scene_model, tmp_path):
    panel = _fill_train_tab(dock, sample_layer, label_layer, scene_model, tmp_path / "m.pt", 1)
    label_layer.startEditing()
    label_layer.deleteFeature(next(label_layer.getFeatures()).id())
    assert not panel.start() and "'landslide labels' has unsaved edits" in panel.last_message
    label_layer.rollBack()
    panel.outWidget.setFilePath("/proc/mrife-no/m.pt")
    assert not panel.start() and "cannot write to /proc/mrife-no" in panel.last_message
    panel.outWidget.setFilePath(str(tmp_path / "m.pt"))
    panel.set_rasters([])
    assert not panel.start() and "choose at least one raster layer" in panel.last_message
    assert panel.task is None and not (tmp_path / "m.pt").exists()


def test_disk_full_during_training_keeps_the_last_good_checkpoint(
        sample_layer, label_layer, scene_model, tmp_path, monkeypatch):
    """The third save (the second epoch's) fails half-way with ENOSPC: the run stops with a
    message, the first epoch's model and resume files are intact, and Resume finishes it."""
    out = tmp_path / "full.pt"
    params = {"RASTERS": [sample_layer], "LABELS": label_layer, "BASE_MODEL": str(scene_model),
              "EPOCHS": 2, "BATCH_SIZE": 2, "MAX_STEPS_PER_EPOCH": 2, "DEVICE": "cpu",
              "FREEZE_ENCODER": True, "OUTPUT": str(out)}
    real_save = torch.save
    calls = []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            f.write(b"\0" * 4096)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(QgsProcessingException,
                       match=r"No space left on device.*last good checkpoint \(full.pt and "
                             r"full.resume.pt\) is intact.*'Resume'"):
        run("mrife:train", params)
    monkeypatch.setattr(torch, "save", real_save)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".full")) == []
    from mrife.checkpoint import load_model, read_payload

    assert load_model(out).model is not None
    state = read_payload(out.with_suffix(".resume.pt"))["resume"]
    assert state["epoch"] == 1 and len(state["history"]) == 1
    result, _ = run("mrife:train", dict(params, RESUME=True))
    assert result["STATUS"] == "completed"
    assert len(read_payload(out)["train_config"]) > 0
    assert not out.with_suffix(".resume.pt").exists()
